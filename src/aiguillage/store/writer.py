"""Group commit: many concurrent request records become one transaction.

The request path hands its record to ``GroupCommitWriter.submit`` and awaits the returned
future. Records submitted during one event-loop iteration form a batch; the batch runs every
registered sink inside ONE transaction, commits, and only then resolves the futures. So a
request is acknowledged only after its records are durable, and the cost of the commit is
shared by the whole batch. There is no fixed batching delay: a batch is written as soon as a
writer is free.

On SQLite the event loop writes its batch itself, at the end of the iteration that made it
(``_hand_over``), whenever the writer is idle and the locks are free: it takes the writer lock
file and the database's write lock without blocking (``LOCK_NB``, ``BEGIN IMMEDIATE`` with no
busy wait). When another worker process holds them, the batch tries again at the end of each
of the loop's next few iterations, then every millisecond, taking in the records submitted
meanwhile: under load the other commit is over by then. Only a lock held for longer than
``LOCKED_WAIT_S`` sends the batch to the writer thread, which waits for the locks without
holding up the loop. Writing on the loop blocks it for one commit (its fsync
included), but saves what the thread costs per request under load: every SQLite call releases
and retakes the GIL, so a writer thread beside a busy loop means GIL hand-overs (futex calls,
context switches) and a cross-thread wake-up per batch. Measured at c=64 in six interleaved pairs of
runs (docs/benchmarks.md): 1–22% less CPU per request and 6–33% more requests/s. A
request that is alone in its worker (``submit(..., alone=True)``) does not even wait for the
end of the iteration: it commits its own record on the spot, a batch of one. On PostgreSQL,
where a commit is network round trips that can wait for another replica's row lock, batches
always go to the thread.

Records from one process are committed in submission order: the loop writes only when the
thread has nothing queued or in hand.

With SQLite, the writers of several worker processes take turns through a lock file next to
the database (``store/writer_lock.py``).

A request waits for its record at most ``timeout_s`` (``resilience.record_timeout_s``): a
database can stall rather than fail, on a lock held by a replica that froze in the middle of
its transaction, or on a connection whose peer still acknowledges packets but never answers,
and no connection setting bounds that. ``expire_overdue``, run every second on each loop, fails
the records older than that with ``NotConfirmed`` (the request is answered 503, not
acknowledged; its record may still be committed later), and while the thread has been on one
batch for longer, new records fail at once. On PostgreSQL each transaction of the writer also
carries server-side bounds: ``lock_timeout`` and ``statement_timeout`` at ``timeout_s``, so
the server gives up on it too, and ``idle_in_transaction_session_timeout``, so a replica that
froze while holding the audit log's lock loses its transaction and the others go on.

``refusal`` tells the request path, before it calls any upstream, that a record could not be
kept now: the thread is stuck as above, or the last commit failed because the database was
down (``store/outage.py``). The request is then answered 503 at
once, rather than paid for upstream, with personal data sent out, and left unrecorded. While
the database is down, ``probe_if_down`` (run with ``expire_overdue``) has the thread try a
write that changes nothing; once one commits, requests are served again. A real request is
never the probe: it would learn about the database only after its whole upstream call.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Connection, make_url

from aiguillage.store.checkpointer import WalCheckpointer
from aiguillage.store.db import BUSY_TIMEOUT_MS, Database, NotConfirmed, driver_cursor
from aiguillage.store.outage import Outage
from aiguillage.store.writer_lock import Busy as _Busy
from aiguillage.store.writer_lock import WriterLock

log = logging.getLogger(__name__)

__all__ = ["GroupCommitWriter", "Sink"]


class Sink(Protocol):
    """Writes its part of a batch of records inside the writer's transaction."""

    def write(self, conn: Connection, records: Sequence[dict[str, Any]]) -> None: ...


_STOP = object()
_PROBE = object()


class GroupCommitWriter:
    def __init__(self, db: Database, sinks: Sequence[Sink], max_batch: int = 1024,
                 timeout_s: float | None = None) -> None:
        self.db = db
        self.sinks = list(sinks)
        self.max_batch = max_batch
        self.timeout_s = timeout_s
        # Futures of records queued and not yet settled, per loop, oldest first, with the time
        # each was submitted (timeout_s only): what expire_overdue looks through.
        self._unsettled: dict[asyncio.AbstractEventLoop, dict[asyncio.Future[None], float]] = {}
        self._busy_since: float | None = None  # when the thread took its current batch
        self.outage = Outage()  # whether the database is down, and the log of failed commits
        # PostgreSQL: the server-side bounds of each of the writer's transactions (see the docstring).
        self._pg_bounds = None if timeout_s is None else (
            "SELECT set_config('lock_timeout', %(t)s, true), set_config('statement_timeout', %(t)s, true), "
            "set_config('idle_in_transaction_session_timeout', %(idle)s, true)",
            # Never under a second idle: a busy host can delay the writer's next statement that long.
            {"t": f"{max(1, round(timeout_s * 1000))}ms", "idle": f"{round(max(1.0, min(timeout_s, IDLE_IN_TX_S)) * 1000)}ms"})
        # _busy_since of a batch that has had records expire: stuck, so fail at once from now on.
        self._stuck_since: float | None = None
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # SQLite only: one connection for whoever holds _idle (the thread, or the loop as leader).
        self._conn: Connection | None = None
        # SQLite busy_timeout currently set on _conn: 0 after a leader commit, which must not wait;
        # switched back only when the thread writes, so back-to-back leaders skip two PRAGMAs.
        # Only in WAL mode, where nothing after BEGIN IMMEDIATE waits for a lock; with a rollback
        # journal the COMMIT waits for readers, so the leader restores the timeout at once.
        self._no_busy_wait = False
        self._wal: bool | None = None  # _conn's journal mode is WAL (None: not asked yet)
        # Records submitted from each event loop since its last hand-over (written or queued).
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[dict[str, Any], asyncio.Future[None]]]] = {}
        # Per loop, for a batch that found the lock taken: (tries so far, monotonic time of the first).
        self._tries: dict[asyncio.AbstractEventLoop, tuple[int, float]] = {}
        self._idle = threading.Lock()  # held by whoever is writing a batch: the thread or a leader
        # Batches put on the queue and not yet committed by the thread. Counted before the put and
        # uncounted after the commit, under _idle: a leader holding _idle that reads 0 cannot
        # overtake a batch, even one the thread has just dequeued.
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._closed = False  # the thread has stopped
        self._stopping = False  # close() has begun
        self._sealed = False  # close() has written out the queue: nothing more can be queued
        self._waiting = 0  # batches retrying on a loop timer for another process's lock
        # SQLite file: WAL checkpoints run on a thread of their own, never in a commit of ours.
        path = self._sqlite_file()
        self.lock = WriterLock(path)  # turns between the worker processes' writers (SQLite file)
        self.checkpointer = WalCheckpointer(path) if path else None
        self._autocheckpoint: int | None = None  # _conn's wal_autocheckpoint before we turned it off
        self.batches = 0
        self.records = 0

    def start(self) -> None:
        if self._thread is None:
            self.lock.open()  # now, not at the first commit, which may come in a burst
            self._thread = threading.Thread(target=self._run, name="aiguillage-writer", daemon=True)
            self._thread.start()
            if self.checkpointer is not None:
                self.checkpointer.start()

    def submit(self, record: dict[str, Any], alone: bool = False) -> asyncio.Future[None]:
        """Queue a record; the future resolves once it is committed (or fails with the error).

        ``alone``: the caller is the only request in flight on its loop, so it may commit the
        record itself, now, rather than at the end of the iteration (see the module's docstring)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self._closed:
            fut.set_exception(RuntimeError("the group-commit writer is closed"))
            return fut
        if self.timeout_s is not None:
            now = time.monotonic()
            if self._stuck(now, self.timeout_s):
                # The thread has been on one batch for longer than a request may wait: the
                # database is stalled. Say so now, not after another whole timeout.
                fut.set_exception(NotConfirmed(self.timeout_s, queued=False))
                return fut
        if alone and loop not in self._pending:
            outcome = self._try_lead([record])
            if not isinstance(outcome, _Busy):
                _settle([fut], outcome)
                return fut
        if self.timeout_s is not None:
            unsettled = self._unsettled.get(loop)
            if unsettled is None:
                unsettled = self._unsettled[loop] = {}
            unsettled[fut] = now
        pending = self._pending.get(loop)
        if pending is None:
            self._pending[loop] = [(record, fut)]
            loop.call_soon(self._hand_over, loop)
        else:
            pending.append((record, fut))
        return fut

    def _try_lead(self, records: list[dict[str, Any]]) -> Any:
        """Commit ``records`` here and now if the writer is idle (SQLite): None or the commit's
        error. Nothing written: ``_LOCKED`` when another process holds the write lock, ``_BUSY``
        when this process's thread is busy, or on PostgreSQL."""
        if not self.db.is_sqlite or self._thread is None or not self._idle.acquire(blocking=False):
            return _BUSY
        try:
            if self._queued or self._closed:
                return _BUSY
            return self._write(records, try_only=True)
        finally:
            self._idle.release()

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """Runs on ``loop`` once per iteration that submitted something: the iteration's records
        are written here if the writer is idle (SQLite); try again soon if another process is
        writing (``LOCKED_RETRIES``, ``LOCKED_WAIT_S``); else become one queue item for the thread."""
        items = self._pending.pop(loop, None)
        tries, since = self._tries.pop(loop, (0, 0.0))
        if not items:
            return
        again = False
        try:
            if self._stopping or self._closed:
                # Closing: the batch goes to the queue, which close() writes out to the end. The
                # thread died without close(): nobody would ever take the batch.
                if self._closed and not self._stopping or not self._enqueue((loop, items)):
                    self._settle(loop, [fut for _record, fut in items], RuntimeError("the group-commit writer is closed"))
                return
            outcome = self._try_lead([record for record, _fut in items])
            now = time.monotonic() if outcome is _LOCKED else 0.0
            if not tries:
                since = now
            if outcome is _LOCKED and (tries < LOCKED_RETRIES or now - since < LOCKED_WAIT_S) \
                    and self._count_waiting(tries):
                # Another worker is committing: try again soon, with the records submitted
                # meanwhile, rather than hand over to the thread. The thread would hold the lock
                # while it waits for the GIL to run the sinks, stalling the other worker.
                again = True
                self._pending[loop] = items
                self._tries[loop] = (tries + 1, since)
                if tries < LOCKED_RETRIES:
                    loop.call_soon(self._hand_over, loop)
                else:  # a longer commit: stop spinning the loop, look again in a millisecond
                    loop.call_later(LOCKED_PAUSE_S, self._hand_over, loop)
            elif not isinstance(outcome, _Busy):
                self._settle(loop, [fut for _record, fut in items], outcome)
            elif not self._enqueue((loop, items)):
                self._settle(loop, [fut for _record, fut in items], RuntimeError("the group-commit writer is closed"))
        finally:
            if tries and not again:  # a waiting batch is now written, queued or failed
                with self._queued_lock:
                    self._waiting -= 1

    def refusal(self) -> tuple[str, str] | None:
        """Why a new request cannot be recorded now, so must not be served (see the module's
        docstring), or None: ``("commit_stuck" | "database_down", the reason in words)``."""
        # Every request asks: the clock is read only while the thread is on a batch.
        if self._busy_since is not None and self.timeout_s is not None and self._stuck(time.monotonic(), self.timeout_s):
            return "commit_stuck", NotConfirmed(self.timeout_s, queued=False).reason
        down = self.outage.down
        return None if down is None else ("database_down", down)

    def _stuck(self, now: float, timeout_s: float) -> bool:
        """The thread has been on its batch for longer than ``timeout_s``, or records expired
        waiting for that batch."""
        since = self._busy_since
        return since is not None and (now - since > timeout_s or since == self._stuck_since)

    def probe_if_down(self) -> bool:
        """While the database is down: queue one write that changes nothing, whose commit tells
        that it is back (see ``refusal``). Whether one was queued."""
        outage = self.outage
        if outage.down is None or outage.probing or self._stopping or self._closed or self._thread is None:
            return False
        outage.probing = True
        self._q.put(_PROBE)
        return True

    def _probe(self) -> None:
        """Run on the thread, under ``_idle``."""
        try:
            with self.lock.turn():
                with self._transaction() as tx:
                    conn = self._begin(tx, try_only=False)
                    driver_cursor(conn).execute(_PROBE_SQL)
        except Exception as exc:
            self.outage.probe_failed(exc)
            self._drop_connection()
        else:
            self.outage.probe_committed()
        finally:
            self.outage.probing = False

    def _settle(self, loop: asyncio.AbstractEventLoop, futs: list[asyncio.Future[None]],
                error: BaseException | None) -> None:
        """Resolve ``futs`` (on ``loop``) and forget them."""
        unsettled = self._unsettled.get(loop)
        if unsettled:
            for fut in futs:
                unsettled.pop(fut, None)
            if not unsettled:  # nothing keeps a finished loop alive
                del self._unsettled[loop]
        _settle(futs, error)

    def expire_overdue(self) -> int:
        """Fail this loop's records that have waited longer than ``timeout_s``; how many. Run
        every second or so on each loop that submits."""
        loop = asyncio.get_running_loop()
        unsettled = self._unsettled.get(loop)
        if not unsettled or self.timeout_s is None:
            return 0
        cutoff = time.monotonic() - self.timeout_s
        overdue = []
        for fut, since in unsettled.items():  # oldest first
            if since > cutoff:
                break
            overdue.append(fut)
        for fut in overdue:
            del unsettled[fut]
        if not unsettled:
            del self._unsettled[loop]
        if overdue and self._busy_since is not None:
            self._stuck_since = self._busy_since  # the batch in hand is holding records up
        _settle(overdue, NotConfirmed(self.timeout_s))
        return len(overdue)

    def _count_waiting(self, tries: int) -> bool:
        """Count a batch as waiting for another process's lock (close() waits for it to be
        queued); False once close() has begun, when the batch must go to the queue now."""
        with self._queued_lock:
            if self._stopping:
                return False
            if not tries:
                self._waiting += 1
            return True

    def submit_nowait(self, record: dict[str, Any], on_done: Callable[[BaseException | None], None]) -> None:
        if not self._enqueue((None, [(record, on_done)])):
            on_done(RuntimeError("the group-commit writer is closed"))

    def _enqueue(self, item: tuple[Any, list[Any]]) -> bool:
        """Queue a batch for the thread; False once close() has written out the queue."""
        with self._queued_lock:
            if self._sealed:
                return False
            self._queued += 1
            self._q.put(item)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is queued, then stop the thread."""
        with self._queued_lock:
            self._stopping = True  # batches waiting for another process's lock go to the queue now
        # Let each reach the queue (at its next turn on its loop) before _STOP does.
        deadline = time.monotonic() + 1.0
        while self._waiting and time.monotonic() < deadline:
            time.sleep(0.001)
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join(timeout)
            if self._thread.is_alive():  # stuck on a lock: what it holds stays unwritten
                log.error("the group-commit writer did not stop within %gs", timeout)
                if self.checkpointer is not None:
                    self.checkpointer.close()
                return
            self._thread = None
        # A hand-over that raced the stop is queued behind _STOP: write it here, not drop it.
        leftovers = []
        with self._queued_lock:
            self._sealed = True
            while True:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP and item is not _PROBE:
                    leftovers.append(item)
        if leftovers:
            with self._idle:
                try:
                    self._commit(leftovers)
                finally:
                    self._drop_connection()
        self.lock.close()
        if self.checkpointer is not None:
            self.checkpointer.close()

    def _take_batch(self) -> tuple[list[Any], bool, bool]:
        """The next batch, whether to stop after it, whether to probe after it."""
        first = self._q.get()
        if first is _STOP:
            return [], True, False
        if first is _PROBE:
            return [], False, True
        batch = [first]
        size = len(first[1])
        stop = probe = False
        while size < self.max_batch:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            if item is _PROBE:
                probe = True
                continue
            batch.append(item)
            size += len(item[1])
        return batch, stop, probe

    def _run(self) -> None:
        try:
            while True:
                batch, stop, probe = self._take_batch()
                with self._idle:
                    try:
                        if batch:
                            self._busy_since = time.monotonic()
                            self._commit(batch)
                    finally:
                        self._busy_since = None
                        with self._queued_lock:
                            self._queued -= len(batch)
                    if probe:
                        self._probe()
                    if stop:
                        self._closed = True
                        return
        finally:
            with self._idle:  # never under a leader's open transaction
                self._closed = True
                self._drop_connection()

    def _transaction(self) -> Any:
        """SQLite: one connection kept by the writer (a pool checkout and its reset-on-return cost
        ~80 µs per commit, which at low concurrency is per request), used by whoever holds
        ``_idle``. PostgreSQL: the pool, whose pre-ping recovers from a server restart before the
        batch is written."""
        if not self.db.is_sqlite:
            return self.db.engine.begin()
        if self._conn is None:
            self._conn = self.db.engine.connect()
            if self.checkpointer is not None:  # see store/checkpointer.py
                cur = driver_cursor(self._conn)
                self._autocheckpoint = int(cur.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
                cur.execute("PRAGMA wal_autocheckpoint=0")
        return self._conn.begin()

    def _sqlite_file(self) -> str | None:
        """The database file's path (SQLite on a file), else None."""
        if not self.db.is_sqlite:
            return None
        path = make_url(self.db.url).database
        return path if path and path != ":memory:" and not path.startswith("file:") else None

    def _drop_connection(self) -> None:
        # The lock file stays open: a commit that failed for want of open files must not give up
        # the one descriptor every later commit needs.
        if self._conn is not None:
            try:
                if self._autocheckpoint is not None:
                    # Back to SQLite's own checkpoints before the pool hands the connection on.
                    try:
                        self._conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={self._autocheckpoint}")
                    except Exception:
                        self._conn.invalidate()
                    self._autocheckpoint = None
                if self._no_busy_wait:
                    # Never hand the pool a connection that fails at once instead of waiting
                    # for a lock: restore busy_timeout, or discard the connection.
                    try:
                        self._conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                    except Exception:
                        self._conn.invalidate()
                self._conn.close()
            except Exception:  # closing a broken connection must not hide the batch's own error
                log.debug("closing the writer's connection failed", exc_info=True)
            self._conn = None
            self._no_busy_wait, self._wal = False, None  # a new connection starts with the timeout

    def _write(self, records: list[dict[str, Any]], try_only: bool = False) -> Any:
        """Run every sink over ``records`` in one transaction and commit; the error, if any.

        ``try_only`` (SQLite): return ``_LOCKED``, having written nothing, rather than wait for the
        writer lock file or the database's write lock."""
        try:
            with self.lock.turn(try_only):
                with self._transaction() as tx:
                    conn = self._begin(tx, try_only)
                    for sink in self.sinks:
                        sink.write(conn, records)
                self._finish_checkpoint()
        except _Busy:
            return _LOCKED
        except Exception as exc:  # the futures carry it to each waiting request
            self.outage.commit_failed(exc, len(records))
            self._drop_connection()  # start the next batch on a fresh connection
            return exc
        self.batches += 1
        self.records += len(records)
        self.outage.committed()
        return None

    def _begin(self, tx: Any, try_only: bool) -> Connection:
        """The connection of ``tx``, its transaction started as a writer's: without waiting for
        any lock (``try_only``, SQLite), waiting up to busy_timeout, or (PostgreSQL) under the
        server-side bounds of the module's docstring."""
        conn = tx if isinstance(tx, Connection) else tx.connection
        if try_only:
            self._begin_as_leader(conn)
        elif self.db.is_sqlite:
            self._set_busy_wait(conn, True)
        elif self._pg_bounds is not None:
            driver_cursor(conn).execute(*self._pg_bounds)
        return conn

    def _finish_checkpoint(self) -> None:
        """When the checkpoint thread asks: copy the last pages of the log while this writer still
        holds the lock file, so the next transaction, ours or another worker's, starts the log
        over (store/checkpointer.py). The batch is committed already: a failure here is only logged."""
        ckpt = self.checkpointer
        if ckpt is None or not ckpt.restart_wanted or self._conn is None:
            return
        try:
            ckpt.finish(self._conn.connection.driver_connection)  # type: ignore[arg-type]
        except Exception:
            log.warning("WAL checkpoint after a commit failed", exc_info=True)

    def _begin_as_leader(self, conn: Connection) -> None:
        """BEGIN IMMEDIATE without waiting for any lock, or raise ``_Busy``. In WAL mode the
        timeout then stays 0 for this transaction and the next leaders (see ``_no_busy_wait``)."""
        if self._wal is None:
            mode = driver_cursor(conn).execute("PRAGMA journal_mode").fetchone()
            self._wal = bool(mode) and str(mode[0]).lower() == "wal"
        self._set_busy_wait(conn, False)
        _begin_immediate_or_busy(conn)
        if not self._wal:
            self._set_busy_wait(conn, True)

    def _set_busy_wait(self, conn: Connection, wait: bool) -> None:
        """Set _conn's busy_timeout (a no-op when it already is as asked)."""
        if self._no_busy_wait == (not wait):
            return
        driver_cursor(conn).execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS if wait else 0}")
        self._no_busy_wait = not wait

    def _commit(self, batch: list[Any]) -> None:
        records = [record for _loop, items in batch for record, _done in items]
        error = self._write(records)
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for loop, items in batch:
            if loop is None:
                for _record, on_done in items:
                    on_done(error)
            else:
                by_loop.setdefault(loop, []).extend(fut for _record, fut in items)
        for loop, futs in by_loop.items():
            try:
                loop.call_soon_threadsafe(self._settle, loop, futs, error)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                self._unsettled.pop(loop, None)
                continue


_BUSY = _Busy()  # this process's writer thread is busy
_LOCKED = _Busy()  # another process holds the write lock
# While another process commits, a batch retries at each of the loop's next LOCKED_RETRIES
# iterations, then every LOCKED_PAUSE_S until LOCKED_WAIT_S have passed since its first try, and
# only then goes to the thread. Measured with 2 workers, interleaved pairs (docs/benchmarks.md):
# 3 retries gave +7.6% req/s at c=64 over none, 10 +3.9% over 3 (sixth session); waiting on
# past the 10, up to LOCKED_WAIT_S, rather than handing over, gave +11% at c=64 and +24% at
# c=16 over 10 (twelfth session: median per-round ratios, ahead in every round), and the share
# of the machine left idle at c=64 fell from 11% to 6%. Each look costs one non-blocking flock.
# A lock held for longer than LOCKED_WAIT_S is not another worker's commit but a stall (a frozen
# replica, a long erasure): the thread then waits for it, and the record timeout and the
# refusals see a busy writer (``refusal``).
LOCKED_RETRIES = 10
LOCKED_PAUSE_S = 0.001
LOCKED_WAIT_S = 0.05
# What a probe writes (see probe_if_down): a table every installation has, left as it was.
_PROBE_SQL = "UPDATE schema_versions SET version = version"
# The longest a writer's PostgreSQL transaction may sit idle before the server ends it: it is
# never idle for more than a few milliseconds unless its process froze, holding the log's lock.
IDLE_IN_TX_S = 10.0


def _begin_immediate_or_busy(conn: Connection) -> None:
    """Take SQLite's write lock now or raise ``_Busy`` (the connection's busy_timeout is 0)."""
    try:
        driver_cursor(conn).execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise _Busy from None
        raise


def _settle(futs: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for fut in futs:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)
