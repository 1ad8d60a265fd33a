"""Worker processes starting together open the same new SQLite files (the counters file, the
database) at the same moment; switching them to WAL must wait for the others, not fail."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any


def _open_together(path: str, db_url: str, barrier: Any, out: Any) -> None:
    from aiguillage.accounting.sqlite_backend import SqliteBackend
    from aiguillage.store.db import Database

    barrier.wait(10)
    try:
        SqliteBackend(path)
        with Database(db_url).engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        out.put(("ok", mode))
    except Exception as exc:  # reported to the test, which names it
        out.put(("error", repr(exc)))


def test_many_processes_open_new_sqlite_files_at_once(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    for attempt in range(12):
        path, db = tmp_path / f"c{attempt}-counters.db", tmp_path / f"g{attempt}.db"
        n = 6
        barrier, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_open_together, args=(str(path), f"sqlite:///{db}", barrier, out)) for _ in range(n)]
        for p in procs:
            p.start()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert results == [("ok", "wal")] * n, results
