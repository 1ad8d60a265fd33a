"""Appending to the log: one serialised sequence however many writers share the database.

Every append first locks the single ``audit_state`` row (PostgreSQL: ``SELECT ... FOR UPDATE``;
SQLite: a no-op ``UPDATE`` as the first statement, which takes the database write lock, waiting
on ``busy_timeout``, before anything is read). Under that lock it assigns consecutive leaf
indexes, extends the stored frontier and re-signs the tree head, all in the caller's
transaction, so an entry is in the log if and only if that transaction committed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aiguillage.audit import merkle
from aiguillage.audit.keys import KeyRing
from aiguillage.audit.tables import state
from aiguillage.store.db import driver_cursor

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


# The writer's statements go straight to the driver cursor, inside the caller's transaction:
# SQLAlchemy's per-statement execution context cost more than running them (~60 µs each, five
# per batch, on the thread every request's acknowledgement waits for).
_HEAD_COLUMNS = "size, frontier, root, ts, prev_checkpoint, signature"
# SQLite: a no-op UPDATE is the first statement, so it takes the database write lock (waiting
# on busy_timeout) before the head is read; RETURNING reads it in the same statement.
_LOCK_SQLITE = f"UPDATE audit_state SET size = size WHERE id = 1 RETURNING {_HEAD_COLUMNS}"
# SQLite before 3.35 (some distributions' Python still links one) has no RETURNING: two statements.
_LOCK_SQLITE_OLD = ("UPDATE audit_state SET size = size WHERE id = 1",
                    f"SELECT {_HEAD_COLUMNS} FROM audit_state WHERE id = 1")
_HAS_RETURNING = sqlite3.sqlite_version_info >= (3, 35)
_LOCK_PG = f"SELECT {_HEAD_COLUMNS} FROM audit_state WHERE id = 1 FOR UPDATE"
# PostgreSQL allows 65,535 parameters per statement: 7 per entry.
PG_ROWS_PER_INSERT = 1000
_COLUMNS = "seq, kind, event_id, tenant, ts, body, nodes"


def _insert_sql(mark: str, n_rows: int) -> str:
    row = f"({', '.join([mark] * 7)})"
    return f"INSERT INTO audit_entries ({_COLUMNS}) VALUES {', '.join([row] * n_rows)}"


def _update_head_sql(mark: str) -> str:
    return (f"UPDATE audit_state SET size = {mark}, frontier = {mark}, root = {mark}, ts = {mark}, "
            f"prev_checkpoint = {mark}, signature = {mark} WHERE id = 1")


def _insert_checkpoint_sql(mark: str) -> str:
    return f"INSERT INTO audit_checkpoints (size, root, ts, prev_size, signature) VALUES ({mark}, {mark}, {mark}, {mark}, {mark})"


def split_frontier(blob: bytes) -> list[bytes]:
    return [blob[i : i + merkle.HASH_LEN] for i in range(0, len(blob), merkle.HASH_LEN)]


def _head_from_row(row: Sequence[Any]) -> Head:
    size, frontier, root, ts, prev, signature = row
    return Head(int(size), split_frontier(bytes(frontier)), bytes(root), float(ts), int(prev), bytes(signature))


def read_head(conn: Connection) -> Head | None:
    row = conn.execute(sa.select(*(state.c[c] for c in _HEAD_COLUMNS.split(", "))).where(state.c.id == 1)).first()
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
        cur = driver_cursor(conn)
        if conn.dialect.name != "sqlite":
            cur.execute(_LOCK_PG)
        elif _HAS_RETURNING:
            cur.execute(_LOCK_SQLITE)
        else:
            for stmt in _LOCK_SQLITE_OLD:
                cur.execute(stmt)
        row = cur.fetchone()
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
            cur = driver_cursor(conn)
            if conn.dialect.paramstyle == "qmark":  # SQLite: executemany is in-process and fast
                cur.executemany(_insert_sql("?", 1), rows)
            else:  # PostgreSQL: multi-row INSERTs, one round trip per PG_ROWS_PER_INSERT entries
                for i in range(0, len(rows), PG_ROWS_PER_INSERT):
                    part = rows[i:i + PG_ROWS_PER_INSERT]
                    cur.execute(_insert_sql("%s", len(part)), tuple(v for row in part for v in row))
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
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        cur = driver_cursor(conn)
        if checkpoint:
            sig = self.keys.sign(signed_message(CHECKPOINT_MAGIC, size, r, ts, prev))
            cur.execute(_insert_checkpoint_sql(mark), (size, r, ts, prev, sig))
            prev = size
        sig = self.keys.sign(signed_message(HEAD_MAGIC, size, r, ts, prev))
        cur.execute(_update_head_sql(mark), (size, b"".join(frontier), r, ts, prev, sig))
