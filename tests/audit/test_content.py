"""Content stays off the log: encrypted per subject, erasable, expiring; the log stays valid throughout."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import sqlalchemy as sa
from conftest import settings_with
from records import fill, make_record

from aiguillage.audit import AuditLog
from aiguillage.audit.tables import content, entries, subject_keys
from aiguillage.store.db import Database

DAY = 86400.0


def _bodies(log: AuditLog) -> list[bytes]:
    with log.db.engine.connect() as conn:
        return [r.body for r in conn.execute(sa.select(entries.c.body).order_by(entries.c.seq)) if r.body]


def test_event_is_stored_without_content_and_returned_only_to_its_tenant(log: AuditLog) -> None:
    rec = make_record(1, tenant="acme", subject="alice@example.org", content=True)
    with log.db.engine.begin() as conn:
        log.sink().write(conn, [rec, make_record(2, tenant="globex")])
    got = log.get_decision(rec["decision_id"], "acme")
    assert got is not None
    assert got["decision_id"] == rec["decision_id"] and got["chosen"]["jurisdiction"] == "on_prem"
    assert got["policy"]["personal_data"] == {"EMAIL": 1} and got["usage"] == rec["usage"]
    assert (
        "content" not in got
        and "subject_id" not in got
        and got["subject"] == log.subject_pseudonym("acme", "alice@example.org")
    )
    assert log.get_decision(rec["decision_id"], "globex") is None
    raw = b"".join(_bodies(log))
    assert b"jean@example.fr" not in raw and b"alice@example.org" not in raw  # no text, no raw subject id
    assert rec["content"] is not None  # the caller's record is not mutated
    assert log.get_content(rec["decision_id"]) == rec["content"]


def test_content_kept_only_when_the_tenant_policy_asks(log: AuditLog) -> None:
    rec = make_record(1, tenant="globex", content=True)  # default policy: store_content false
    with log.db.engine.begin() as conn:
        log.sink().write(conn, [rec])
        assert conn.execute(sa.select(sa.func.count()).select_from(content)).scalar() == 0
    assert log.get_content(rec["decision_id"]) is None and log.get_decision(rec["decision_id"], "globex")


def test_content_is_encrypted_at_rest(log: AuditLog) -> None:
    rec = make_record(1, content=True)
    with log.db.engine.begin() as conn:
        log.sink().write(conn, [rec])
        blob = conn.execute(sa.select(content.c.ciphertext)).scalar_one()
    assert b"Bonjour" not in blob and b"example.fr" not in blob


def test_hmac_is_keyed_and_stable(log: AuditLog) -> None:
    h = log.hmac("Bonjour")
    assert h == log.hmac("Bonjour") and h != log.hmac("Bonjour!") and len(h) == 64
    import hashlib

    assert h != hashlib.sha256(b"Bonjour").hexdigest()


def test_erasure_makes_content_unreadable_and_keeps_the_log_valid(log: AuditLog) -> None:
    alice = fill(log, 6, subject="alice", content=True)
    bob = fill(log, 4, subject="bob", content=True)
    assert log.get_content(alice[0]) is not None
    assert log.erase_subject("alice", "acme").texts == 6
    assert all(log.get_content(d) is None for d in alice)
    assert all(log.get_content(d) is not None for d in bob)
    with log.db.engine.connect() as conn:
        subjects = {r.subject for r in conn.execute(sa.select(subject_keys.c.subject))}
    assert log.subject_pseudonym("acme", "alice") not in subjects
    res = log.verify()
    assert res.ok, res.message
    assert res.entries == 11
    events = [orjson.loads(line) for line in log.export(None, None, "jsonl")]
    erasure = [e for e in events if e["kind"] == "erasure"]
    assert len(erasure) == 1 and erasure[0]["event"]["content_erased"] == 6
    assert erasure[0]["event"]["subject"] == log.subject_pseudonym("acme", "alice")
    assert erasure[0]["tenant"] == "acme"
    # A later request from the same subject gets a fresh key.
    later = fill(log, 1, subject="alice", content=True)
    assert log.get_content(later[0]) is not None and log.verify().ok


def test_retention_expires_content_prunes_old_metadata_and_is_logged(log: AuditLog) -> None:
    now = time.time()
    old = fill(log, 8, content=True, received_at=now - 100 * DAY)
    recent = fill(log, 4, content=True, received_at=now)
    # Nothing is old enough yet: content is younger than 30 days, metadata younger than 183.
    summary = log.apply_retention(now=now)
    assert summary["content_deleted"] == 0 and summary["metadata_pruned"] == 0
    # 100 days on: content (30 d) is gone; bodies older than 183 days (the 8 old ones) are pruned.
    summary = log.apply_retention(now=now + 100 * DAY)
    assert summary["content_deleted"] == 12 and summary["metadata_pruned"] == 8
    assert summary["metadata_pruned_before_seq"] == 8
    assert log.get_content(recent[0]) is None and log.get_decision(old[0], "acme") is None
    assert log.get_decision(recent[0], "acme") is not None
    res = log.verify()
    assert res.ok, res.message
    assert "8 pruned" in res.message
    kinds = [orjson.loads(line)["kind"] for line in log.export(None, None, "jsonl")]
    assert kinds.count("retention") == 2
    # Pruning one more body by hand, past what the retention events cover, is caught.
    with log.db.engine.begin() as conn:
        conn.execute(sa.update(entries).where(entries.c.seq == 8).values(body=None))
    bad = log.verify()
    assert not bad.ok and bad.first_bad == "entry #8"


def test_metadata_kept_for_at_least_the_minimum(log: AuditLog) -> None:
    now = time.time()
    fill(log, 4, received_at=now - 182 * DAY)
    summary = log.apply_retention(now=now)
    assert summary["metadata_pruned"] == 0 and len(_bodies(log)) == 5


def test_erasing_a_long_subject_id_finds_what_the_request_path_stored(log: AuditLog) -> None:
    # The request path records at most 200 characters of the subject id; erasure cuts the same way.
    stored = fill(log, 2, subject="s" * 200, content=True)
    assert log.erase_subject("s" * 300, "acme").texts == 2
    assert all(log.get_content(d) is None for d in stored)


def _erasures(log: AuditLog) -> list[dict]:
    return [e for e in (orjson.loads(line) for line in log.export(None, None, "jsonl")) if e["kind"] == "erasure"]


def test_subjects_are_scoped_by_tenant(log: AuditLog) -> None:
    # Two tenants' "user-1" are two people: one tenant's erasure leaves the other's text alone,
    # and the log does not link them.
    acme = fill(log, 3, tenant="acme", subject="user-1", content=True)
    initech = fill(log, 2, tenant="initech", subject="user-1", content=True)
    assert log.subject_pseudonym("acme", "user-1") != log.subject_pseudonym("initech", "user-1")
    subjects = {log.get_decision(d, None)["subject"] for d in acme + initech}  # type: ignore[index]
    assert len(subjects) == 2
    assert log.erase_subject("user-1", "initech").texts == 2
    assert all(log.get_content(d) is None for d in initech)
    assert all(log.get_content(d) is not None for d in acme)
    [event] = _erasures(log)
    assert event["tenant"] == "initech" and event["event"]["content_erased"] == 2
    assert event["event"]["subject"] == log.subject_pseudonym("initech", "user-1")
    # A tenant that stored nothing for the id still gets its request on record.
    assert log.erase_subject("user-1", "globex").texts == 0
    assert [e["tenant"] for e in _erasures(log)] == ["initech", "globex"]
    assert log.verify().ok


def test_erasing_in_every_tenant(log: AuditLog) -> None:
    acme = fill(log, 2, tenant="acme", subject="user-1", content=True)
    initech = fill(log, 3, tenant="initech", subject="user-1", content=True)
    kept = fill(log, 1, tenant="acme", subject="user-2", content=True)
    fill(log, 1, tenant="globex", subject="user-1")  # its policy stores no content
    assert log.erase_subject("user-1", None).texts == 5
    assert all(log.get_content(d) is None for d in acme + initech)
    assert log.get_content(kept[0]) is not None
    assert sorted((e["tenant"], e["event"]["content_erased"]) for e in _erasures(log)) == [("acme", 2), ("initech", 3)]
    # An id found nowhere: one event records the request.
    assert log.erase_subject("nobody", None).texts == 0
    last = _erasures(log)[-1]
    assert last["tenant"] == "" and last["event"]["tenants"] == "all" and last["event"]["content_erased"] == 0
    assert log.verify().ok


def _store_legacy(log: AuditLog, ids: list[str]) -> str:
    """Texts as versions before tenant scoping stored them: under one pseudonym of the bare id."""
    legacy = log.legacy_subject_pseudonym("user-1")
    with log.db.engine.begin() as conn:
        log.chain.lock(conn)
        log.content.put(conn, [(d, legacy, {"prompt": f"p{d}", "answer": "a"}) for d in ids], time.time())
    return legacy


def _has_key(log: AuditLog, subject: str) -> bool:
    with log.db.engine.connect() as conn:
        return conn.execute(sa.select(subject_keys.c.subject).where(subject_keys.c.subject == subject)).first() is not None


def test_content_stored_before_tenant_scoping_is_erased_per_tenant(log: AuditLog) -> None:
    # An erasure for one tenant deletes that tenant's old texts; the other tenants' move under
    # their own keys, and the shared old key is destroyed at once (a backup of the erased
    # ciphertexts must not stay decryptable while another tenant still has text).
    acme = fill(log, 2, tenant="acme", subject="user-1")
    initech = fill(log, 2, tenant="initech", subject="user-1")
    legacy = _store_legacy(log, acme + initech)
    assert log.get_content(acme[0]) == {"prompt": f"p{acme[0]}", "answer": "a"} and _has_key(log, legacy)
    assert log.erase_subject("user-1", "acme").texts == 2
    assert all(log.get_content(d) is None for d in acme) and not _has_key(log, legacy)
    assert [log.get_content(d) for d in initech] == [{"prompt": f"p{d}", "answer": "a"} for d in initech]
    assert _erasures(log)[-1]["event"] == {
        "kind": "erasure", "at": _erasures(log)[-1]["event"]["at"], "subject": log.subject_pseudonym("acme", "user-1"),
        "content_erased": 2, "legacy_subject": legacy}
    # initech's texts are now under initech's own subject: its erasure finds them there.
    assert log.erase_subject("user-1", "initech").texts == 2
    assert all(log.get_content(d) is None for d in initech)
    assert log.verify().ok


def test_old_texts_are_erased_in_every_tenant_and_when_their_decision_was_pruned(tmp_path: Path) -> None:
    # Content kept longer than the decisions' metadata: once a decision is pruned, its old text
    # cannot be attributed to a tenant; an erasure of the id deletes it all the same.
    log = AuditLog(Database(f"sqlite:///{tmp_path / 'a.db'}"),
                   settings_with(content_retention_days=400, metadata_retention_days=183))
    now = time.time()
    old = fill(log, 2, tenant="acme", subject="user-1", received_at=now - 200 * DAY)
    recent = fill(log, 2, tenant="initech", subject="user-1")
    legacy = _store_legacy(log, old + recent)
    assert log.apply_retention(now=now)["metadata_pruned"] == 2
    assert log.get_content(old[0]) is not None
    assert log.erase_subject("user-1", "initech").texts == 4  # its own two, and the two it cannot tell apart
    assert all(log.get_content(d) is None for d in old + recent) and not _has_key(log, legacy)
    assert log.verify().ok


def test_old_texts_of_pruned_decisions_are_erased_across_all_tenants_under_no_tenant(tmp_path: Path) -> None:
    log = AuditLog(Database(f"sqlite:///{tmp_path / 'a.db'}"),
                   settings_with(content_retention_days=400, metadata_retention_days=183))
    now = time.time()
    legacy = _store_legacy(log, fill(log, 2, tenant="acme", subject="user-1", received_at=now - 200 * DAY))
    assert log.apply_retention(now=now)["metadata_pruned"] == 2
    assert log.erase_subject("user-1", None).texts == 2
    last = _erasures(log)[-1]
    assert last["tenant"] == "" and last["event"]["content_erased"] == 2 and last["event"]["legacy_subject"] == legacy
    assert not _has_key(log, legacy) and log.verify().ok


def test_retention_destroys_the_keys_of_subjects_with_no_text_left(log: AuditLog) -> None:
    now = time.time()
    fill(log, 2, tenant="acme", subject="user-1", content=True)
    fresh = fill(log, 1, tenant="acme", subject="user-2", content=True, received_at=now + 31 * DAY)
    with log.db.engine.begin() as conn:  # user-2's text is a month younger than user-1's
        conn.execute(sa.update(content).where(content.c.event_id == fresh[0]).values(created_at=now + 31 * DAY))
    assert _has_key(log, log.subject_pseudonym("acme", "user-1"))
    assert log.apply_retention(now=now + 31 * DAY)["content_deleted"] == 2
    assert not _has_key(log, log.subject_pseudonym("acme", "user-1"))
    assert _has_key(log, log.subject_pseudonym("acme", "user-2")) and log.get_content(fresh[0]) is not None
    later = fill(log, 1, tenant="acme", subject="user-1", content=True)  # a new key
    assert log.get_content(later[0]) is not None and log.verify().ok


def test_erasure_deletes_the_subjects_outcome_samples(log: AuditLog) -> None:
    # Samples kept for router training hold the prompt and the answer in clear: the subject's go.
    from aiguillage.outcomes import Outcomes, samples

    outcomes = Outcomes(log.db)
    mine = fill(log, 2, tenant="acme", subject="user-1")
    others = fill(log, 1, tenant="acme", subject="user-2") + fill(log, 1, tenant="initech", subject="user-1")
    for d in mine + others:
        tenant = log.get_decision(d, None)["tenant"]  # type: ignore[index]
        outcomes.record_shadow(d, tenant, [("small", "the prompt", "an answer", 0.9), ("large", "the prompt", "another", 1.0)])

    def left() -> set[str]:
        with log.db.engine.connect() as conn:
            return set(conn.execute(sa.select(samples.c.decision_id)).scalars())

    done = log.erase_subject("user-1", "acme")
    assert done.outcome_samples == 4 and left() == set(others)
    assert _erasures(log)[-1]["event"]["outcome_samples_erased"] == 4
    assert log.erase_subject("user-1", None).outcome_samples == 2 and left() == {others[0]}
    assert log.verify().ok


def test_every_tenant_includes_those_whose_decisions_were_all_pruned(tmp_path: Path) -> None:
    # Content kept longer than metadata: acme's decisions are gone, its texts are not. acme has
    # a policy in the config, so --all-tenants still finds it.
    log = AuditLog(Database(f"sqlite:///{tmp_path / 'a.db'}"),
                   settings_with(content_retention_days=400, metadata_retention_days=183))
    now = time.time()
    old = fill(log, 2, tenant="acme", subject="user-1", content=True, received_at=now - 200 * DAY)
    assert log.apply_retention(now=now)["metadata_pruned"] == 2
    assert log.get_content(old[0]) is not None
    assert log.erase_subject("user-1", None).texts == 2
    assert all(log.get_content(d) is None for d in old)
    assert [e["tenant"] for e in _erasures(log)] == ["acme"]


def test_a_late_write_can_tell_that_its_decisions_subject_was_erased(log: AuditLog) -> None:
    # A shadow evaluation records its samples seconds after the answer: if the subject was
    # erased meanwhile, it must not bring their text back (shadow.py asks this first).
    mine, other = fill(log, 1, tenant="acme", subject="user-1"), fill(log, 1, tenant="initech", subject="user-1")
    assert not log.erased_since(mine[0]) and not log.erased_since(other[0])
    log.erase_subject("user-1", "acme")
    assert log.erased_since(mine[0]) and not log.erased_since(other[0])
    later = fill(log, 1, tenant="acme", subject="user-1")  # a request after the erasure is new data
    assert not log.erased_since(later[0]) and not log.erased_since("no-such-decision")
