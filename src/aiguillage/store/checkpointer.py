"""WAL checkpoints off the request path (SQLite files).

SQLite in WAL mode copies the log back into the database file once it reaches 1,000 pages, in
the connection whose commit crossed that size: for the group-commit writer, often the event
loop itself (store/writer.py). That copy and the database file's fsync then block the loop and
every request in flight on it, for several milliseconds (measured: the writer's commit p99 went
from 3.3–4.0 ms to 7.3–8.4 ms with them, docs/benchmarks.md).

Here a thread does it instead. The writer's connection turns the automatic checkpoint off, and
every ``interval_s`` this thread runs a PASSIVE checkpoint, which copies what is committed
without taking any lock that writers need. But SQLite starts the log over only in a commit whose
transaction began after everything in the log was copied, and under a steady stream of commits
the next transaction has almost always begun before a concurrent checkpoint ends: the file would
grow without end (measured: 116 MB after 60,000 rows, against 9 MB). So once the log holds
``restart_pages`` pages, the thread takes the writers' lock file (store/writer.py: every
worker's writer takes it around each commit) and checkpoints again. Most pages were copied in
the passive round just before, so writers wait only for the last few; a leader on the loop does
not wait at all, it retries at its next iteration.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # not POSIX: no lock file; the writer then keeps SQLite's own checkpoints
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

__all__ = ["WalCheckpointer", "RESTART_PAGES"]

# SQLite's own threshold (wal_autocheckpoint's default): the log's size stays as it was.
RESTART_PAGES = 1000


class WalCheckpointer:
    def __init__(self, path: str, lock_path: str, interval_s: float = 0.1,
                 restart_pages: int = RESTART_PAGES) -> None:
        self.path = path
        self.lock_path = lock_path
        self.interval_s = interval_s
        self.restart_pages = restart_pages
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # checkpoints run, for tests and benchmarks
        self.pauses = 0  # of which with the writers paused

    @staticmethod
    def available() -> bool:
        return fcntl is not None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="aiguillage-checkpoint", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and checkpoint once more, so the log a stopped gateway leaves is short."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None
        try:
            with self._connection() as conn, self._writers_paused():
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception:
            log.warning("the final WAL checkpoint failed", exc_info=True)

    def _run(self) -> None:
        with self._connection() as conn:
            while not self._stop.wait(self.interval_s):
                try:
                    self.checkpoint(conn)
                except Exception:  # a full disk, say: the next round tries again
                    log.warning("WAL checkpoint failed", exc_info=True)

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        _busy, pages, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        self.rounds += 1
        if pages >= self.restart_pages:
            # Even when all was copied: a commit starts the log over only if it began after the
            # copy ended, and under load the next one has usually begun already.
            with self._writers_paused():
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.pauses += 1

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _writers_paused(self) -> Iterator[None]:
        # A descriptor of our own: flock conflicts between open files, so this also pauses the
        # writer of this very process.
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # waits without the GIL
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
