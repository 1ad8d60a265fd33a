"""What the group-commit writer knows of its database being down, and what it logs of failures.

A commit that fails because the database is down (``db.unavailable``; not contention between
transactions, ``db.contention``, nor the process out of open files) marks it down: the writer
then refuses new requests before they go upstream (``GroupCommitWriter.refusal``) until one of
its probes, a write that changes nothing, commits. Failed commits are logged with their
traceback at most every 10 s, with a count; the first commit after them says how many failed
in all, the ones after the last message included.

Used under the writer's ``_idle`` lock (one commit at a time); the request path only reads
``down`` and ``probing``.
"""

from __future__ import annotations

import logging

from aiguillage.errors import LogThrottle, out_of_files
from aiguillage.store.db import contention, unavailable

log = logging.getLogger(__name__)

__all__ = ["Outage"]


class Outage:
    def __init__(self) -> None:
        self.down: str | None = None  # why the last failed commit failed, while the database is down
        self.probing = False  # a probe is queued or running
        self._failures = LogThrottle()  # failed batches and records since the last logged failure
        self._since_ok = [0, 0]  # failed batches and records since the last successful commit

    def commit_failed(self, exc: BaseException, records: int) -> None:
        """A batch of ``records`` failed with ``exc``. Call from within the ``except``: the log
        gets its traceback."""
        self._note(exc)
        self._since_ok[0] += 1
        self._since_ok[1] += records
        counts = self._failures.tick(1, records)
        if counts is not None:
            log.exception("group commit failed: %d batch(es), %d record(s) since the last such message", *counts)

    def committed(self) -> None:
        """A batch committed. Requests stay refused until a probe commits: a batch may have
        written no row at all."""
        if self._since_ok[0]:
            log.warning("group commit works again, after %d failed batch(es), %d record(s)", *self._since_ok)
            self._since_ok = [0, 0]
            self._failures.clear()

    def probe_failed(self, exc: BaseException) -> None:
        self._note(exc)
        log.debug("the database is still unavailable", exc_info=exc)

    def probe_committed(self) -> None:
        self.down = None
        self.committed()

    def _note(self, exc: BaseException) -> None:
        # A bug leaves the state as it was.
        if not out_of_files(exc) and not contention(exc):
            down = unavailable(exc)
            if down is not None:
                self.down = down
