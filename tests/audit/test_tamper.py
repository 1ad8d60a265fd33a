"""Every kind of tampering the issue names is detected, and the first bad entry is named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import settings_with
from records import fill, roll_back_to, tree_state

from aiguillage.audit import AuditLog, merkle
from aiguillage.audit.chain import leaf_input, split_frontier
from aiguillage.audit.tables import checkpoints, entries, state
from aiguillage.store.db import Database

N = 40  # checkpoints every 8 entries (see conftest.settings_with)


def _exec(log: AuditLog, stmt: Any) -> None:
    with log.db.engine.begin() as conn:
        conn.execute(stmt)


def _row(log: AuditLog, seq: int) -> sa.Row:
    with log.db.engine.connect() as conn:
        return conn.execute(sa.select(entries).where(entries.c.seq == seq)).one()


def _flip(b: bytes, at: int = 10) -> bytes:
    return b[:at] + bytes([b[at] ^ 0x01]) + b[at + 1 :]


def _alter(field: str, row: sa.Row) -> Any:
    value = getattr(row, field)
    if field == "ts":
        return value + 1e-6
    if isinstance(value, bytes):
        return _flip(value, min(10, len(value) - 1))
    return value[:-1] + ("x" if value[-1:] != "x" else "y")


@pytest.mark.parametrize("field", ["kind", "event_id", "tenant", "ts", "body", "nodes"])
def test_changing_any_stored_field_names_that_entry(log: AuditLog, field: str) -> None:
    fill(log, N)
    assert log.verify().ok
    victim = 13
    _exec(
        log,
        sa.update(entries).where(entries.c.seq == victim).values({field: _alter(field, _row(log, victim))}),
    )
    res = log.verify()
    assert not res.ok
    assert res.first_bad is not None and res.first_bad.startswith(f"entry #{victim}")


def test_deleted_row_is_named(log: AuditLog) -> None:
    fill(log, N)
    _exec(log, sa.delete(entries).where(entries.c.seq == 21))
    res = log.verify()
    assert not res.ok and res.first_bad == "entry #21"
    assert "missing" in res.message


def test_swapped_rows_are_detected(log: AuditLog) -> None:
    fill(log, N)
    a, b = _row(log, 5), _row(log, 6)
    cols = ["kind", "event_id", "tenant", "ts", "body", "nodes"]
    with log.db.engine.begin() as conn:  # event_id is unique: park row a out of the way first
        conn.execute(sa.update(entries).where(entries.c.seq == 5).values(event_id="tmp"))
        conn.execute(sa.update(entries).where(entries.c.seq == 6).values({c: getattr(a, c) for c in cols}))
        conn.execute(sa.update(entries).where(entries.c.seq == 5).values({c: getattr(b, c) for c in cols}))
    res = log.verify()
    assert not res.ok and res.first_bad is not None and res.first_bad.startswith("entry #5")


def test_truncation_is_detected(log: AuditLog) -> None:
    fill(log, N)
    _exec(log, sa.delete(entries).where(entries.c.seq >= N - 3))
    res = log.verify()
    assert not res.ok and res.first_bad == f"entry #{N - 3}"


def _forge_next_row(log: AuditLog) -> dict[str, Any]:
    """A well-formed entry at the end, with correct Merkle nodes: only the signature is missing."""
    with log.db.engine.connect() as conn:
        head = conn.execute(sa.select(state)).one()
    frontier = split_frontier(head.frontier)
    body = b'{"forged":true}'
    leaf = merkle.leaf_hash(leaf_input(head.size, "decision", "f" * 32, "acme", 1.0, body))
    nodes = b"".join(merkle.append(frontier, head.size, leaf))
    row = {
        "seq": head.size,
        "kind": "decision",
        "event_id": "f" * 32,
        "tenant": "acme",
        "ts": 1.0,
        "body": body,
        "nodes": nodes,
    }
    _exec(log, entries.insert().values(**row))
    return {"size": head.size + 1, "frontier": b"".join(frontier), "root": merkle.root(frontier)}


def test_forged_append_is_detected(log: AuditLog) -> None:
    fill(log, N)
    _forge_next_row(log)
    res = log.verify()
    assert not res.ok and res.first_bad == f"entry #{N}" and "out of band" in res.message


def test_forged_append_with_rewritten_head_fails_the_signature(log: AuditLog) -> None:
    fill(log, N)
    new_state = _forge_next_row(log)
    _exec(log, sa.update(state).values(**new_state))
    res = log.verify()
    assert not res.ok and res.first_bad == "tree head"


def test_consistent_rewrite_of_an_entry_and_its_hashes_fails_at_the_checkpoint(log: AuditLog) -> None:
    """An attacker who recomputes every stored hash is still caught by the signed roots."""
    fill(log, N)
    with log.db.engine.begin() as conn:
        rows = conn.execute(sa.select(entries).order_by(entries.c.seq)).all()
        frontier: list[bytes] = []
        for r in rows:
            body = r.body.replace(b'"acme"', b'"evil"') if r.seq == 3 else r.body
            leaf = merkle.leaf_hash(leaf_input(r.seq, r.kind, r.event_id, r.tenant, r.ts, body))
            nodes = b"".join(merkle.append(frontier, r.seq, leaf))
            conn.execute(sa.update(entries).where(entries.c.seq == r.seq).values(body=body, nodes=nodes))
    res = log.verify()
    assert not res.ok and res.first_bad == "checkpoint at tree size 8"


Mutation = Callable[[sa.Row], dict[str, Any]]


@pytest.mark.parametrize(
    "change",
    [
        lambda cp: {"root": _flip(cp.root)},
        lambda cp: {"ts": cp.ts + 1},
        lambda cp: {"signature": _flip(cp.signature)},
        lambda cp: {"prev_size": cp.prev_size + 1},
    ],
    ids=["root", "ts", "signature", "prev_size"],
)
def test_altered_checkpoint_is_named(log: AuditLog, change: Mutation) -> None:
    fill(log, N)
    with log.db.engine.connect() as conn:
        cp = conn.execute(sa.select(checkpoints).where(checkpoints.c.size == 16)).one()
    _exec(log, sa.update(checkpoints).where(checkpoints.c.size == 16).values(**change(cp)))
    res = log.verify()
    assert not res.ok and res.first_bad == "checkpoint at tree size 16"


def test_removed_checkpoint_is_detected(log: AuditLog) -> None:
    fill(log, N)
    _exec(log, sa.delete(checkpoints).where(checkpoints.c.size == 16))
    res = log.verify()
    assert not res.ok and res.first_bad == "checkpoint at tree size 24"


def test_body_removed_without_retention_event_is_detected(log: AuditLog) -> None:
    fill(log, N)
    _exec(log, sa.update(entries).where(entries.c.seq == 0).values(body=None))
    res = log.verify()
    assert not res.ok and res.first_bad == "entry #0"


def test_chunked_and_parallel_verification_agree(tmp_path: Path) -> None:
    """The chunked path (small chunks here) accepts the intact log and names the same entry."""
    from aiguillage.audit.verify import verify

    db = Database(f"sqlite:///{tmp_path / 'chunks.db'}")
    log = AuditLog(db, settings_with())
    fill(log, N)
    log.checkpoint()
    assert verify(db.engine, log.keys.public, workers=2, chunk_bits=3).ok
    for bits in (0, 2, 3):
        assert verify(db.engine, log.keys.public, workers=1, chunk_bits=bits).ok
    _exec(log, sa.update(entries).where(entries.c.seq == 29).values(tenant="evil"))
    for bits in (2, 3, 5):
        res = verify(db.engine, log.keys.public, workers=1, chunk_bits=bits)
        assert not res.ok and res.first_bad is not None and res.first_bad.startswith("entry #29")
    _exec(log, sa.update(entries).where(entries.c.seq == 29).values(tenant="acme"))
    # Entry 31 stores levels 0-5; with 8-leaf chunks, level 2 is checked in the chunk, level 4 above it.
    good = _row(log, 31).nodes
    for at in (70, 150):
        _exec(log, sa.update(entries).where(entries.c.seq == 31).values(nodes=_flip(good, at)))
        res = verify(db.engine, log.keys.public, workers=1, chunk_bits=3)
        assert not res.ok and res.first_bad is not None and res.first_bad.startswith("entry #31")
    db.dispose()


def _pruned_log(log: AuditLog) -> None:
    """A log whose first 8 entries retention has pruned (metadata older than the minimum)."""
    import time

    now = time.time()
    fill(log, 8, received_at=now - 200 * 86400)
    fill(log, 4, received_at=now)
    assert log.apply_retention(now=now)["metadata_pruned"] == 8
    res = log.verify()
    assert res.ok and "8 pruned" in res.message, res.message


@pytest.mark.parametrize("field", ["kind", "event_id", "tenant", "ts"])
def test_metadata_written_back_into_a_pruned_entry_is_detected(log: AuditLog, field: str) -> None:
    # The leaf hash covers these together with the body: once the body is pruned, nothing could
    # prove them unchanged, so retention clears them and verify insists they stay cleared.
    _pruned_log(log)
    forged = {"kind": "decision", "event_id": "f" * 32, "tenant": "evil", "ts": 1.0}
    _exec(log, sa.update(entries).where(entries.c.seq == 3).values({field: forged[field]}))
    res = log.verify()
    assert not res.ok and res.first_bad == "entry #3", res.message


def test_a_retention_run_does_not_make_an_earlier_out_of_band_pruning_look_allowed(log: AuditLog) -> None:
    fill(log, N)
    _exec(log, sa.update(entries).where(entries.c.seq < 5).values(body=None))
    assert not log.verify().ok
    summary = log.apply_retention()  # nothing is old enough: it prunes nothing
    assert summary["metadata_pruned"] == 0 and summary["metadata_pruned_before_seq"] == 0
    res = log.verify()
    assert not res.ok and res.first_bad == "entry #0", res.message


def test_retention_carries_its_allowance_forward(log: AuditLog) -> None:
    _pruned_log(log)
    assert log.apply_retention()["metadata_pruned_before_seq"] == 8  # prunes nothing, allows as before
    assert log.verify().ok


def test_an_altered_stored_frontier_is_detected_before_the_next_append(log: AuditLog) -> None:
    fill(log, N)
    with log.db.engine.connect() as conn:
        frontier = conn.execute(sa.select(state.c.frontier)).scalar_one()
    _exec(log, sa.update(state).values(frontier=bytes(len(frontier))))
    res = log.verify()
    assert not res.ok and res.first_bad == "tree head" and "frontier" in res.message


def test_verify_is_not_fooled_by_retention_committing_during_the_pass(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    # The entries are read after the head's snapshot: a retention run that commits in between
    # prunes bodies below that head, while its event lies beyond it.
    import time

    from aiguillage.audit import verify as verify_mod

    now = time.time()
    fill(log, 8, received_at=now - 200 * 86400)
    fill(log, 4, received_at=now)
    real_run, runs = verify_mod._run, []

    def retention_then_run(*args: Any, **kwargs: Any) -> Any:
        if not runs:
            log.apply_retention(now=now)
        runs.append(1)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(verify_mod, "_run", retention_then_run)
    res = log.verify()
    assert res.ok and "8 pruned" in res.message, res.message
    assert len(runs) == 2  # the second pass, on a new snapshot


@pytest.mark.parametrize("change", ["CAST(body AS TEXT)", "CAST(nodes AS TEXT) || x'ff'", "x'ff'"])
def test_a_value_stored_with_another_type_names_its_entry(
    tmp_path: Path, databases: list[Database], change: str
) -> None:
    # SQLite only: it stores any type in any column, where PostgreSQL's column types refuse it.
    db = Database(f"sqlite:///{tmp_path / 'typed.db'}")
    databases.append(db)
    log = AuditLog(db, settings_with())
    fill(log, N)
    column = "kind" if change == "x'ff'" else change.split("(")[1].split()[0]
    _exec(log, sa.text(f"UPDATE audit_entries SET {column} = {change} WHERE seq = 2"))
    res = log.verify()
    assert not res.ok and res.first_bad is not None and res.first_bad.startswith("entry #2"), res.message


def test_a_rollback_is_invisible_without_a_witness_and_caught_with_one(log: AuditLog) -> None:
    fill(log, 20)
    at_20 = tree_state(log)
    fill(log, 10)
    witness = log.head()
    assert witness.size == 30 and log.verify(witnesses=[witness]).ok
    roll_back_to(log, at_20)
    assert log.verify().ok  # an older log, genuinely signed: nothing in the database tells
    res = log.verify(witnesses=[witness])
    assert not res.ok and res.first_bad == "witnessed head at tree size 30" and "rolled back" in res.message


def test_a_rewritten_history_of_the_witnessed_length_is_caught(log: AuditLog) -> None:
    fill(log, 20)
    at_20 = tree_state(log)
    fill(log, 10)
    witness = log.head()
    roll_back_to(log, at_20)
    fill(log, 15)  # a different entry #20 onwards, and now longer than the witness
    assert log.verify().ok
    res = log.verify(witnesses=[witness])
    assert not res.ok and res.first_bad == "witnessed head at tree size 30", res.message


def test_a_witness_this_log_did_not_sign_is_refused(log: AuditLog) -> None:
    import dataclasses

    fill(log, 12)
    forged = dataclasses.replace(log.head(), root=bytes(32))
    res = log.verify(witnesses=[forged])
    assert not res.ok and res.first_bad == "witnessed head at tree size 12" and "signature" in res.message


def test_a_log_pruned_by_the_previous_version_verifies_after_the_upgrade(log: AuditLog) -> None:
    from aiguillage.audit.tables import meta

    _pruned_log(log)
    # As the previous version left pruned entries: body gone, kind, id, tenant and time kept.
    with log.db.engine.begin() as conn:
        for seq in range(8):
            conn.execute(sa.update(entries).where(entries.c.seq == seq).values(
                kind="decision", event_id=f"{seq:032x}", tenant="acme", ts=1_700_000_000.0 + seq))
    assert not log.verify().ok  # this version's rule, before the one-off clean-up
    _exec(log, sa.delete(meta).where(meta.c.name == "pruned_rows"))  # a database this version never opened
    upgraded = AuditLog(log.db, settings_with())
    res = upgraded.verify()
    assert res.ok and "8 pruned" in res.message, res.message
    # Done once: metadata written back later is still caught, by this and every later start.
    _exec(log, sa.update(entries).where(entries.c.seq == 2).values(tenant="evil", kind="decision"))
    again = AuditLog(log.db, settings_with())
    assert again.verify().first_bad == "entry #2"
