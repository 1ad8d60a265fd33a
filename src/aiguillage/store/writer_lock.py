"""The writers' lock file: how the group-commit writers of several worker processes take turns
on one SQLite file.

Each holds an exclusive ``flock`` on ``<database>.writer-lock`` for one transaction: the next
writer is woken the moment the lock is released, where SQLite's own busy handler would poll with
1, 2, 5, 10... ms sleeps. Not POSIX, or not a file: no lock file, and SQLite's busy handler
arbitrates alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["Busy", "WriterLock"]


class Busy(Exception):
    """A try-only commit found a lock taken; nothing was written."""


class WriterLock:
    def __init__(self, database_file: str | None) -> None:
        self.database_file = database_file
        self._fd: int | None = None  # -1: no lock file

    def open(self) -> int | None:
        """The lock file's descriptor, opened at the first call (None: no lock file). Kept open
        until ``close``: a commit that failed for want of open files must not give up the one
        descriptor every later commit needs."""
        if self._fd is None:
            if fcntl is not None and self.database_file:
                self._fd = os.open(self.database_file + ".writer-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            else:
                self._fd = -1
        return self._fd if self._fd >= 0 else None

    @contextlib.contextmanager
    def turn(self, try_only: bool = False) -> Iterator[None]:
        """Hold the lock for one transaction. ``try_only``: raise ``Busy`` instead of waiting."""
        fd = self.open()
        if fd is None:
            yield
            return
        try:
            # Blocking: waits without the GIL until the other writer commits.
            fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if try_only else 0))
        except BlockingIOError:
            raise Busy from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None and self._fd >= 0:
            os.close(self._fd)
        self._fd = None
