"""Appending to the log: one serialised sequence however many writers share the database.

Every append first locks the single ``audit_state`` row (PostgreSQL: ``SELECT ... FOR UPDATE``;
SQLite: a no-op ``UPDATE`` as the first statement, which takes the database write lock, waiting
on ``busy_timeout``, before anything is read). Under that lock it assigns consecutive leaf
indexes, extends the stored frontier and re-signs the tree head, all in the caller's
transaction, so an entry is in the log if and only if that transaction committed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aiguillage.audit import merkle
from aiguillage.audit.keys import KeyRing
from aiguillage.audit.tables import checkpoints, state

HEAD_MAGIC = b"aiguillage-audit-head-v1"
CHECKPOINT_MAGIC = b"aiguillage-audit-checkpoint-v1"


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "decision", "erasure" or "retention"
    event_id: str
    tenant: str
    ts: float
    body: bytes  # canonical JSON, UTF-8


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    frontier: list[bytes]
    root: bytes
    ts: float
    prev_checkpoint: int
    signature: bytes


def canonical(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)


def leaf_input(seq: int, kind: str, event_id: str, tenant: str, ts: float, body: bytes | str) -> bytes:
    """What a leaf hash covers: every stored column of the entry (JSON header, newline, body)."""
    return (
        orjson.dumps([seq, kind, event_id, tenant, ts])
        + b"\n"
        + (body.encode() if isinstance(body, str) else body)
    )


def signed_message(magic: bytes, size: int, root: bytes, ts: float, prev: int) -> bytes:
    return b"%s\n%d\n%s\n%s\n%d\n" % (magic, size, root.hex().encode(), repr(ts).encode(), prev)


# Built once: constructing statements per batch cost more than running them.
_TAKE_WRITE_LOCK = sa.update(state).where(state.c.id == 1).values(size=state.c.size)
_SELECT_FOR_UPDATE = sa.select(state).where(state.c.id == 1).with_for_update()
_UPDATE_HEAD = sa.update(state).where(state.c.id == 1)
_COLUMNS = "seq, kind, event_id, tenant, ts, body, nodes"


def _insert_sql(mark: str, n_rows: int) -> str:
    row = f"({', '.join([mark] * 7)})"
    return f"INSERT INTO audit_entries ({_COLUMNS}) VALUES {', '.join([row] * n_rows)}"


def split_frontier(blob: bytes) -> list[bytes]:
    return [blob[i : i + merkle.HASH_LEN] for i in range(0, len(blob), merkle.HASH_LEN)]


def _head_from_row(row: sa.Row) -> Head:
    return Head(row.size, split_frontier(row.frontier), row.root, row.ts, row.prev_checkpoint, row.signature)


def read_head(conn: Connection) -> Head | None:
    row = conn.execute(sa.select(state).where(state.c.id == 1)).first()
    return None if row is None else _head_from_row(row)


class Chain:
    def __init__(self, keys: KeyRing, checkpoint_every: int) -> None:
        self.keys = keys
        self.checkpoint_every = checkpoint_every

    def init_state(self, conn: Connection) -> None:
        """Create the empty tree's signed head (callers tolerate losing the insert race)."""
        ts = time.time()
        sig = self.keys.sign(signed_message(HEAD_MAGIC, 0, merkle.EMPTY_ROOT, ts, 0))
        conn.execute(
            state.insert().values(
                id=1, size=0, frontier=b"", root=merkle.EMPTY_ROOT, ts=ts, prev_checkpoint=0, signature=sig
            )
        )

    def lock(self, conn: Connection) -> Head:
        if conn.dialect.name == "sqlite":
            conn.execute(_TAKE_WRITE_LOCK)
        row = conn.execute(_SELECT_FOR_UPDATE).first()
        if row is None:
            raise RuntimeError("audit_state is missing: run Database.migrate() and create the AuditLog first")
        return _head_from_row(row)

    def append(self, conn: Connection, events: Sequence[Event]) -> int:
        """Append ``events`` in order; return the leaf index of the first one."""
        head = self.lock(conn)
        frontier = list(head.frontier)
        size = first = head.size
        rows = []
        for ev in events:
            leaf = merkle.leaf_hash(leaf_input(size, ev.kind, ev.event_id, ev.tenant, ev.ts, ev.body))
            done = merkle.append(frontier, size, leaf)
            rows.append((size, ev.kind, ev.event_id, ev.tenant, ev.ts, ev.body, b"".join(done)))
            size += 1
        if rows:
            # Straight to the driver: SQLAlchemy's per-row parameter processing cost more than the
            # insert itself on the writer thread.
            if conn.dialect.paramstyle == "qmark":  # SQLite: executemany is in-process and fast
                conn.exec_driver_sql(_insert_sql("?", 1), rows)
            else:  # PostgreSQL: one multi-row INSERT, one round trip
                conn.exec_driver_sql(_insert_sql("%s", len(rows)), tuple(v for row in rows for v in row))
        crossed = size // self.checkpoint_every > head.size // self.checkpoint_every
        self._store_head(conn, head, size, frontier, checkpoint=crossed)
        return first

    def checkpoint(self, conn: Connection) -> int:
        """Sign a checkpoint of the current tree unless one exists at this size; return the size."""
        head = self.lock(conn)
        if head.size > 0 and head.prev_checkpoint != head.size:
            self._store_head(conn, head, head.size, list(head.frontier), checkpoint=True)
        return head.size

    def _store_head(
        self, conn: Connection, old: Head, size: int, frontier: list[bytes], checkpoint: bool
    ) -> None:
        r = merkle.root(frontier)
        ts = time.time()
        prev = old.prev_checkpoint
        if checkpoint:
            sig = self.keys.sign(signed_message(CHECKPOINT_MAGIC, size, r, ts, prev))
            conn.execute(
                checkpoints.insert(), {"size": size, "root": r, "ts": ts, "prev_size": prev, "signature": sig}
            )
            prev = size
        sig = self.keys.sign(signed_message(HEAD_MAGIC, size, r, ts, prev))
        head = {
            "frontier": b"".join(frontier),
            "root": r,
            "ts": ts,
            "prev_checkpoint": prev,
            "signature": sig,
        }
        conn.execute(_UPDATE_HEAD, {"size": size, **head})
