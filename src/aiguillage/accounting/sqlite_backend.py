"""Counters in a small SQLite file, shared by the worker processes of one machine.

The embedded default runs one worker per core, each with its own memory, so in-process
counters would give every worker a full budget. This backend keeps the same state as
``CounterState`` in a separate file next to the database (``synchronous=OFF``: counters are
rebuilt from the ledger if lost, and the ledger's own durability is untouched), and applies
each operation inside ``BEGIN IMMEDIATE``, which serialises the processes. Each operation is
one short local transaction (tens of microseconds), run inline on the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from decimal import Decimal
from pathlib import Path

from aiguillage.accounting.cost import decimal_str
from aiguillage.accounting.memory import GRACE_S, CounterState
from aiguillage.accounting.plan import Counter, Outcome, Plan
from aiguillage.store.db import enable_wal

__all__ = ["SqliteBackend", "counters_file_for"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tat REAL NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, spent TEXT NOT NULL, reserved TEXT NOT NULL, "
    "expires REAL NOT NULL) WITHOUT ROWID",
)
_PRUNE_EVERY = 4096


def counters_file_for(database_url: str) -> Path | None:
    """``<db>-counters.db`` next to a file SQLite database; None for PostgreSQL or ``:memory:``."""
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split("///", 1)[-1]
    if not path or path == ":memory:":
        return None
    p = Path(path)
    return p.with_name(p.stem + "-counters.db")


class SqliteBackend:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        enable_wal(self._conn)
        self._conn.execute("PRAGMA synchronous=OFF")
        for stmt in _SCHEMA:
            self._conn.execute(stmt)
        self._lock = threading.Lock()
        self._ops = 0

    async def admit(self, plan: Plan) -> Outcome:
        with self._lock:
            self._maybe_prune()
            return self._txn(plan, lambda st, now: st.admit(plan, now), write_if=lambda out: out.status == "ok")

    async def seed(self, counter: Counter, spent: Decimal) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO counters VALUES (?, ?, '0', ?)",
                (counter.key, decimal_str(spent), counter.period.end + GRACE_S),
            )

    async def settle(self, plan: Plan, reserved: Decimal, actual: Decimal, token_delta: int) -> None:
        with self._lock:
            self._txn(plan, lambda st, now: st.settle(plan, reserved, actual, token_delta, now))

    async def close(self) -> None:
        self._conn.close()

    def _txn(self, plan: Plan, op, write_if=lambda _out: True):  # type: ignore[no-untyped-def]
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            st = self._load(plan)
            before = set(st.tat)
            out = op(st, time.time())  # wall clock: shared by every process on the machine
            if write_if(out):
                self._store(plan, st, before)
            conn.execute("COMMIT")
            return out
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _load(self, plan: Plan) -> CounterState:
        st = CounterState()
        rates = [r.key for r in (plan.requests, plan.tokens) if r is not None]
        if rates:
            marks = ",".join("?" * len(rates))
            st.tat = dict(self._conn.execute(f"SELECT key, tat FROM buckets WHERE key IN ({marks})", rates))
        keys = [c.key for c in plan.counters]
        if keys:
            marks = ",".join("?" * len(keys))
            rows = self._conn.execute(f"SELECT key, spent, reserved, expires FROM counters WHERE key IN ({marks})", keys)
            st.counters = {k: [Decimal(s), Decimal(r), e] for k, s, r, e in rows}
        return st

    def _store(self, plan: Plan, st: CounterState, had: set[str]) -> None:
        conn = self._conn
        if st.tat:
            conn.executemany("INSERT OR REPLACE INTO buckets VALUES (?, ?)", list(st.tat.items()))
        gone = had - set(st.tat)
        if gone:
            conn.executemany("DELETE FROM buckets WHERE key = ?", [(k,) for k in gone])
        if st.counters:
            conn.executemany(
                "INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?)",
                [(k, decimal_str(v[0]), decimal_str(v[1]), v[2]) for k, v in st.counters.items()],  # type: ignore[arg-type]
            )

    def _maybe_prune(self) -> None:
        self._ops += 1
        if self._ops % _PRUNE_EVERY:
            return
        now = time.time()
        self._conn.execute("DELETE FROM buckets WHERE tat < ?", (now,))
        self._conn.execute("DELETE FROM counters WHERE expires < ?", (now,))
