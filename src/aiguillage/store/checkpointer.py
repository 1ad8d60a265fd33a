"""WAL checkpoints, mostly off the request path (SQLite files).

SQLite in WAL mode copies the log back into the database file once it reaches 1,000 pages, in
the connection whose commit crossed that size: for the group-commit writer, often the event
loop itself (store/writer.py). The copy of 1,000 pages and the database file's fsync then
block the loop, and every request in flight on it, for several milliseconds.

Here a thread does the copying instead: the writer's connection turns the automatic checkpoint
off, and every ``interval_s`` this thread runs a PASSIVE checkpoint, which copies what is
committed without taking any lock that writers need. But SQLite starts the log over only in a
transaction that began after everything in the log was copied, and under a steady stream of
commits the next one has almost always begun before a checkpoint beside it ends: the log would
grow without end (measured: 116 MB after 60,000 rows of 1.2 KB, against 9 MB). So once the log
holds ``restart_pages`` pages and a round has copied all it found, the thread asks the writer
(``restart_wanted``) to checkpoint once more itself, right after its next commit and before it
lets the next transaction begin: only the pages committed since that round are left to copy.
The thread never holds a lock the writers wait for: in Python it would hold it across its waits
for the GIL, milliseconds each on a busy event loop.

Once a second, not more often: each round copies the pages changed since the last and fsyncs the
database file, and the pages a commit changes are mostly the same few (the right edges of the
indexes). Measured at c=1 against SQLite's own checkpoints (docs/benchmarks.md): every 0.1 s
cost 270 µs of CPU per request and 0.3 ms of p50; every 1 s, nothing measurable.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

__all__ = ["WalCheckpointer", "RESTART_PAGES"]

# SQLite's own threshold (wal_autocheckpoint's default): the log's size stays about as it was.
RESTART_PAGES = 1000


class WalCheckpointer:
    def __init__(self, path: str, interval_s: float = 1.0, restart_pages: int = RESTART_PAGES) -> None:
        self.path = path
        self.interval_s = interval_s
        self.restart_pages = restart_pages
        # Set by the thread, cleared by the writer that checkpoints (see the module's docstring).
        self.restart_wanted = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # passive checkpoints run by the thread
        self.finishes = 0  # checkpoints run by the writer when asked

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
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            log.warning("the final WAL checkpoint failed", exc_info=True)

    def finish(self, conn: sqlite3.Connection) -> None:
        """Run by the writer after a commit, before the next transaction, when asked to."""
        busy, _pages, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        if not busy:  # busy: another process's checkpoint ran; ask again at the next commit
            self.restart_wanted = False
            self.finishes += 1

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        failing_since: float | None = None
        while not self._stop.wait(self.interval_s):
            try:
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
                self._round(conn)
                failing_since = None
            except Exception:  # a full disk, no file descriptor left: the next round tries again
                if failing_since is None or time.monotonic() - failing_since > 60:
                    log.warning("WAL checkpoint failed (retrying every %gs)", self.interval_s, exc_info=True)
                    failing_since = time.monotonic()
                if conn is not None:
                    conn.close()
                    conn = None
        if conn is not None:
            conn.close()

    def _round(self, conn: sqlite3.Connection) -> None:
        _busy, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        self.rounds += 1
        # Not when a reader kept the round from copying everything: the writer's checkpoint
        # could not get further either.
        if pages >= self.restart_pages and copied == pages:
            self.restart_wanted = True
