"""The group-commit writer under the shapes the benchmark relies on (real SQLite files, real processes).

* records submitted in one event-loop iteration are committed together, and every future
  resolves only once its record can be read back by another connection;
* a failing sink fails exactly that batch's futures, and the next batch commits again;
* two processes writing the same SQLite file (two workers) take turns through the writer
  lock file without losing a record.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from aiguillage.store.db import Database, NotConfirmed, unavailable
from aiguillage.store.writer import GroupCommitWriter

_meta = sa.MetaData()
_rows = sa.Table("perf_gc_rows", _meta, sa.Column("n", sa.Integer, nullable=False),
                 sa.Column("who", sa.String(16), nullable=False))


class RowSink:
    def __init__(self, who: str = "main") -> None:
        self.who = who
        self.fail = False
        self.batch_sizes: list[int] = []
        self.threads: list[str] = []  # the thread that wrote each batch

    def write(self, conn: sa.Connection, records: Any) -> None:
        if self.fail:
            raise RuntimeError("sink refused the batch")
        self.batch_sizes.append(len(records))
        self.threads.append(threading.current_thread().name)
        conn.execute(_rows.insert(), [{"n": r["n"], "who": self.who} for r in records])


_padded = sa.MetaData()
_padded_rows = sa.Table("perf_gc_padded", _padded, sa.Column("n", sa.Integer, nullable=False),
                        sa.Column("pad", sa.Text, nullable=False))


class PaddedSink:
    """Rows of 1.2 KB, so that a few thousand make a log of many pages."""

    def write(self, conn: sa.Connection, records: Any) -> None:
        conn.execute(_padded_rows.insert(), [{"n": r["n"], "pad": os.urandom(600).hex()} for r in records])


def _db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    _meta.create_all(db.engine)
    return db


def _writer_and_another_connection(tmp_path: Path) -> tuple[Path, RowSink, GroupCommitWriter, sqlite3.Connection]:
    """A started writer on a fresh file, and a plain connection to it, standing for another
    process (it can take the database's write lock; it does not take the writer lock file)."""
    path = tmp_path / "gc.db"
    sink = RowSink()
    writer = GroupCommitWriter(_db(path), [sink])
    writer.start()
    return path, sink, writer, sqlite3.connect(path, isolation_level=None)


def _count(path: Path, who: str | None = None) -> int:
    engine = sa.create_engine(f"sqlite:///{path}")  # a separate connection: sees only committed rows
    try:
        q = sa.select(sa.func.count()).select_from(_rows)
        if who is not None:
            q = q.where(_rows.c.who == who)
        with engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
    finally:
        engine.dispose()


def test_one_loop_iteration_is_one_batch_and_durable_on_resolve(tmp_path: Path) -> None:
    path = tmp_path / "gc.db"
    sink = RowSink()
    writer = GroupCommitWriter(_db(path), [sink])
    writer.start()

    async def main() -> list[int]:
        seen = []
        futs = [writer.submit({"n": i}) for i in range(200)]
        for fut in asyncio.as_completed(futs):
            await fut
            seen.append(_count(path))  # committed before the future resolved
        return seen

    try:
        seen = asyncio.run(main())
    finally:
        writer.close()
    assert sink.batch_sizes == [200]
    assert min(seen) == 200
    assert writer.batches == 1 and writer.records == 200


def test_the_event_loop_writes_its_batch_itself_when_the_writer_is_idle(tmp_path: Path) -> None:
    path = tmp_path / "gc.db"
    sink = RowSink()
    writer = GroupCommitWriter(_db(path), [sink])
    writer.start()

    async def main() -> int:
        await asyncio.gather(*(writer.submit({"n": i}) for i in range(50)))
        return _count(path)

    try:
        committed = asyncio.run(main())
    finally:
        writer.close()
    assert committed == 50
    assert sink.batch_sizes == [50] and sink.threads == ["MainThread"]  # no hand-over to the thread


def test_a_locked_database_sends_batches_to_the_thread_in_order_without_blocking_the_loop(tmp_path: Path) -> None:
    path, sink, writer, other = _writer_and_another_connection(tmp_path)
    other.execute("BEGIN IMMEDIATE")  # another process holds the database's write lock

    async def main() -> tuple[float, list[int]]:
        first = [writer.submit({"n": i}) for i in range(10)]
        t = time.perf_counter()
        await asyncio.sleep(0.05)  # the hand-over runs in this iteration; the loop must go on
        stalled = time.perf_counter() - t
        second = [writer.submit({"n": 10 + i}) for i in range(10)]  # queued behind the first
        await asyncio.sleep(0.2)
        other.execute("COMMIT")
        await asyncio.wait_for(asyncio.gather(*first, *second), 10)
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            order = [r[0] for r in conn.execute(sa.text("SELECT n FROM perf_gc_rows ORDER BY rowid"))]
        engine.dispose()
        return stalled, order

    try:
        stalled, order = asyncio.run(main())
    finally:
        writer.close()
        other.close()
    assert stalled < 0.5  # the loop did not wait on busy_timeout (10 s)
    assert order == list(range(20))  # submission order, across the two batches
    assert set(sink.threads) == {"aiguillage-writer"} and sum(sink.batch_sizes) == 20


def test_a_batch_that_finds_another_process_committing_tries_again_on_the_loop(tmp_path: Path) -> None:
    path, sink, writer, other = _writer_and_another_connection(tmp_path)
    other.execute("BEGIN IMMEDIATE")  # another process is committing

    async def main() -> None:
        futs = [writer.submit({"n": i}) for i in range(5)]  # handed over at the next iteration
        asyncio.get_running_loop().call_soon(other.execute, "COMMIT")  # just after that first try
        await asyncio.wait_for(asyncio.gather(*futs), 10)
        more = [writer.submit({"n": 5 + i}) for i in range(3)]
        await asyncio.wait_for(asyncio.gather(*more), 10)

    try:
        asyncio.run(main())
    finally:
        writer.close()
        other.close()
    assert _count(path) == 8
    # Both batches were written by the loop: the first on a later try, not by the thread.
    assert sink.threads == ["MainThread", "MainThread"] and sink.batch_sizes == [5, 3]


def test_a_batch_waits_on_the_loop_through_another_process_s_commit_then_hands_a_stall_to_the_thread(
        tmp_path: Path) -> None:
    """Another worker's commit that outlasts the loop's quick retries (here 10 ms, on a loop with
    nothing else to do) is still waited out on the loop, as handing over would leave the thread
    holding the lock while it waits for the GIL. A lock held for longer than LOCKED_WAIT_S is a
    stall: the thread takes the batch and waits for it there."""
    from aiguillage.store import writer as writer_module

    path, sink, writer, other = _writer_and_another_connection(tmp_path)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        other.execute("BEGIN IMMEDIATE")
        loop.call_later(0.01, other.execute, "COMMIT")
        await asyncio.wait_for(asyncio.gather(*(writer.submit({"n": i}) for i in range(3))), 10)
        other.execute("BEGIN IMMEDIATE")
        held = writer_module.LOCKED_WAIT_S * 6
        loop.call_later(held, other.execute, "COMMIT")
        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(writer.submit({"n": 3 + i}) for i in range(2))), 10)
        return time.monotonic() - t0

    try:
        waited = asyncio.run(main())
    finally:
        writer.close()
        other.close()
    assert _count(path) == 5
    assert sink.batch_sizes == [3, 2]
    assert sink.threads == ["MainThread", "aiguillage-writer"]
    assert waited >= writer_module.LOCKED_WAIT_S * 6 - 0.01  # the thread did wait for the lock


def test_close_writes_a_batch_that_was_waiting_for_another_process(tmp_path: Path) -> None:
    path, sink, writer, other = _writer_and_another_connection(tmp_path)
    other.execute("BEGIN IMMEDIATE")  # another process is committing, for longer than close() takes

    async def main() -> None:
        futs = [writer.submit({"n": i}) for i in range(4)]
        await asyncio.sleep(0.001)  # the batch is now retrying on its timer
        closing = asyncio.get_running_loop().run_in_executor(None, writer.close)  # as Gateway.close does
        await asyncio.sleep(0.1)
        other.execute("COMMIT")
        await asyncio.wait_for(asyncio.gather(*futs), 10)
        await closing

    try:
        asyncio.run(main())
    finally:
        other.close()
    assert _count(path) == 4 and sink.batch_sizes == [4]


def test_a_failing_batch_fails_its_futures_and_the_next_commits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gc.db"
    sink = RowSink()
    writer = GroupCommitWriter(_db(path), [sink])
    writer.start()

    async def main() -> tuple[list[BaseException | None], int]:
        sink.fail = True
        failed = await asyncio.gather(*(writer.submit({"n": i}) for i in range(5)), return_exceptions=True)
        # Failures after the first are not logged one by one (at most one message every 10 s) ...
        more = await asyncio.gather(*(writer.submit({"n": 10 + i}) for i in range(3)), return_exceptions=True)
        assert all(isinstance(e, RuntimeError) for e in more)
        sink.fail = False
        await asyncio.gather(*(writer.submit({"n": 100 + i}) for i in range(7)))
        return failed, _count(path)

    caplog.set_level(logging.WARNING, logger="aiguillage.store")
    try:
        failed, committed = asyncio.run(main())
    finally:
        writer.close()
    assert [type(e).__name__ for e in failed] == ["RuntimeError"] * 5
    assert committed == 7
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("group commit failed") for m in messages) == 1
    # ... but the first success says how many there were in all.
    assert "group commit works again, after 2 failed batch(es), 8 record(s)" in messages


def test_a_lone_request_commits_its_own_record_when_the_writer_is_idle(tmp_path: Path) -> None:
    path = tmp_path / "gc.db"
    sink = RowSink()
    writer = GroupCommitWriter(_db(path), [sink])
    writer.start()

    async def main() -> tuple[bool, int, list[bool]]:
        fut = writer.submit({"n": 1}, alone=True)
        done_at_once = fut.done()  # committed inside submit(), before any loop iteration
        await fut
        committed = _count(path)
        # While the writer is busy (a batch holds it), a lone request queues like any other.
        with writer._idle:
            queued = writer.submit({"n": 2}, alone=True)
            states = [queued.done()]
        await queued
        states.append(queued.done())
        return done_at_once, committed, states

    try:
        done_at_once, committed, states = asyncio.run(main())
    finally:
        writer.close()
    assert done_at_once and committed == 1
    assert states == [False, True]
    assert _count(path) == 2 and sink.batch_sizes == [1, 1]


def test_a_lone_request_whose_commit_fails_gets_the_error_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "gc.db"
    sink = RowSink()
    writer = GroupCommitWriter(_db(path), [sink])
    writer.start()

    async def main() -> tuple[BaseException | None, int]:
        sink.fail = True
        failed = await asyncio.gather(writer.submit({"n": 1}, alone=True), return_exceptions=True)
        sink.fail = False
        await writer.submit({"n": 2}, alone=True)
        await asyncio.gather(*(writer.submit({"n": 10 + i}) for i in range(3)))
        return failed[0], _count(path)

    try:
        error, committed = asyncio.run(main())
    finally:
        writer.close()
    assert isinstance(error, RuntimeError)
    assert committed == 4


def test_a_lone_request_never_waits_for_a_lock_on_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "gc.db"
    writer = GroupCommitWriter(_db(path), [RowSink()])
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the database's write lock

    async def main() -> tuple[float, bool, int]:
        t = time.perf_counter()
        fut = writer.submit({"n": 1}, alone=True)
        took = time.perf_counter() - t
        done_at_once = fut.done()
        await asyncio.sleep(0.3)
        other.execute("COMMIT")  # the writer thread, waiting on busy_timeout, commits it now
        await asyncio.wait_for(fut, 10)
        return took, done_at_once, _count(path)

    try:
        took, done_at_once, committed = asyncio.run(main())
    finally:
        writer.close()
        other.close()
    assert took < 0.1 and not done_at_once  # handed to the thread instead of blocking the loop
    assert committed == 1


def test_the_writer_returns_its_connection_to_the_pool_waiting_for_locks_again(tmp_path: Path) -> None:
    # A leader commit leaves busy_timeout at 0 on the writer's connection (so back-to-back
    # leaders skip two PRAGMAs); whoever gets that connection from the pool next must still
    # wait for locks instead of failing with "database is locked".
    from aiguillage.store.db import BUSY_TIMEOUT_MS

    db = _db(tmp_path / "gc.db")
    writer = GroupCommitWriter(db, [RowSink()])
    writer.start()

    async def main() -> None:
        for n in range(3):
            await writer.submit({"n": n}, alone=True)

    asyncio.run(main())
    assert writer._no_busy_wait  # the leaders ran
    writer.close()
    assert db.engine.pool.checkedin() == 1
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        # ... and checkpoint the log itself again, as the writer's connection did not.
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    assert _count(tmp_path / "gc.db") == 3


def test_checkpoints_run_on_their_own_thread_and_the_log_stays_short(tmp_path: Path) -> None:
    # The writer's commits do not copy the log into the database file (that would stall the
    # event loop); a thread does. Under a steady stream of commits SQLite would never start the
    # log over after a checkpoint running beside them: without the writer finishing the copy
    # between two of its transactions when asked, the file would grow by every page written.
    path = tmp_path / "gc.db"
    db = Database(f"sqlite:///{path}")
    _padded.create_all(db.engine)
    writer = GroupCommitWriter(db, [PaddedSink()])
    ckpt = writer.checkpointer
    assert ckpt is not None
    ckpt.interval_s, ckpt.restart_pages = 0.005, 64
    writer.start()
    thread = next(t for t in threading.enumerate() if t.name == "aiguillage-checkpoint")
    wal = Path(str(path) + "-wal")
    sizes = []

    async def main() -> None:
        for start in range(0, 6000, 20):  # one batch per iteration, back to back
            await asyncio.gather(*(writer.submit({"n": n}) for n in range(start, start + 20)))
            sizes.append(wal.stat().st_size)

    try:
        asyncio.run(main())
    finally:
        writer.close()
    assert not thread.is_alive()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM perf_gc_padded").fetchone()[0] == 6000
    conn.close()
    written = 6000 * 1200  # bytes of rows alone; without the writer's part the log exceeds this
    assert max(sizes) < written / 2, (max(sizes), written)
    assert ckpt.rounds >= 1 and ckpt.finishes >= 1

def test_submit_after_close_fails_instead_of_hanging(tmp_path: Path) -> None:
    writer = GroupCommitWriter(_db(tmp_path / "gc.db"), [RowSink()])
    writer.start()
    writer.close()

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(writer.submit({"n": 1}), writer.submit({"n": 2}, alone=True),
                                    return_exceptions=True)

    errors = asyncio.run(main())
    assert all(isinstance(e, RuntimeError) and "closed" in str(e) for e in errors)


def _hammer(path: str, who: str, n: int, out: Any) -> None:
    db = Database(f"sqlite:///{path}")
    writer = GroupCommitWriter(db, [RowSink(who)])
    writer.start()

    async def main() -> None:
        async def one(i: int) -> None:
            await writer.submit({"n": i})

        for start in range(0, n, 50):  # 50 concurrent requests at a time, like a loaded worker
            await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))

    t = time.perf_counter()
    asyncio.run(main())
    writer.close()
    out.put((who, writer.records, time.perf_counter() - t))


def test_two_processes_share_one_sqlite_file_without_losing_records(tmp_path: Path) -> None:
    path = tmp_path / "gc.db"
    _db(path).dispose()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(str(path), who, 1500, out)) for who in ("w1", "w2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    results = sorted(out.get(timeout=5) for _ in procs)
    assert [(who, n) for who, n, _ in results] == [("w1", 1500), ("w2", 1500)]
    assert _count(path, "w1") == 1500 and _count(path, "w2") == 1500
    assert (tmp_path / "gc.db.writer-lock").exists()


def test_in_memory_sqlite_needs_no_lock_file() -> None:
    db = Database("sqlite://")
    writer = GroupCommitWriter(db, [])
    writer.start()
    try:
        asyncio.run(asyncio.wait_for(_submit(writer), 10))
    finally:
        writer.close()
    assert writer.records == 1


async def _submit(writer: GroupCommitWriter) -> None:
    await writer.submit({"n": 1})


def test_without_wal_a_leader_commits_with_the_busy_timeout_restored() -> None:
    # An in-memory database has no WAL: there, a COMMIT may wait for readers, so a leader's
    # transaction must not run on with busy_timeout 0 after it has taken the write lock.
    from aiguillage.store.db import BUSY_TIMEOUT_MS

    db = Database("sqlite://")
    _meta.create_all(db.engine)
    sink = RowSink()
    writer = GroupCommitWriter(db, [sink])
    writer.start()

    async def main() -> None:
        for n in range(2):
            await writer.submit({"n": n}, alone=True)

    try:
        asyncio.run(main())
        assert sink.batch_sizes == [1, 1] and writer._wal is False and not writer._no_busy_wait
        assert writer._conn is not None
        assert writer._conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
    finally:
        writer.close()


def test_records_the_database_does_not_confirm_in_time_fail_and_later_ones_fail_at_once(tmp_path: Path) -> None:
    """Another process holds the database's write lock (stuck mid-commit): records wait at most
    the writer's timeout, then fail with NotConfirmed; while the thread is still stuck, new ones
    fail at once; once the lock is released the stuck batch is committed and the writer goes on."""
    path = tmp_path / "gc.db"
    sink = RowSink()
    writer = GroupCommitWriter(_db(path), [sink], timeout_s=1.0)
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def main() -> tuple[list[BaseException | None], float, BaseException | None]:
        futs = [writer.submit({"n": i}) for i in range(3)]
        await asyncio.sleep(0.3)
        assert writer.expire_overdue() == 0  # not overdue yet
        await asyncio.sleep(0.9)
        assert writer.expire_overdue() == 3
        outcomes = await asyncio.gather(*futs, return_exceptions=True)
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(writer.submit({"n": 99}), 5)
            late = None
        except Exception as exc:  # noqa: BLE001 - asserted below
            late = exc
        failed_in = time.monotonic() - t0
        other.execute("COMMIT")
        for _ in range(200):  # the stuck batch goes through as soon as the lock is free
            if _count(path) == 3 and writer.refusal() is None:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(writer.submit({"n": 3}), 5)
        return outcomes, failed_in, late

    try:
        outcomes, failed_in, late = asyncio.run(main())
    finally:
        writer.close()
        other.close()
    assert all(isinstance(o, NotConfirmed) for o in outcomes), outcomes
    assert isinstance(late, NotConfirmed) and failed_in < 0.05
    assert unavailable(outcomes[0]) == "it did not confirm the record within 1 s"  # queued: may yet commit
    assert unavailable(late) == "it has not finished a commit for over 1 s" and not late.queued  # never queued
    assert _count(path) == 4  # the three unconfirmed records were committed after all, then the next
    assert not any(writer._unsettled.values())  # nothing left to expire: settled records are forgotten
