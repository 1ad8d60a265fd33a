"""Group commit: one writer thread turns many concurrent request records into one transaction.

The request path hands its record to ``GroupCommitWriter.submit`` and awaits the returned
future; the writer thread takes everything queued since its last commit (no fixed batching
delay: it flushes as soon as it is free), runs every registered sink inside ONE transaction,
commits, and only then resolves the futures. So a request is acknowledged only after its
records are durable, and the cost of the commit is shared by the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from aiguillage.store.db import Database

log = logging.getLogger(__name__)

__all__ = ["GroupCommitWriter", "Sink"]


class Sink(Protocol):
    """Writes its part of a batch of records inside the writer's transaction."""

    def write(self, conn: Connection, records: Sequence[dict[str, Any]]) -> None: ...


_STOP = object()


class GroupCommitWriter:
    def __init__(self, db: Database, sinks: Sequence[Sink], max_batch: int = 1024) -> None:
        self.db = db
        self.sinks = list(sinks)
        self.max_batch = max_batch
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.records = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="aiguillage-writer", daemon=True)
            self._thread.start()

    def submit(self, record: dict[str, Any]) -> asyncio.Future[None]:
        """Queue a record; the future resolves once it is committed (or fails with the error)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._q.put((record, loop, fut))
        return fut

    def submit_nowait(self, record: dict[str, Any], on_done: Callable[[BaseException | None], None]) -> None:
        self._q.put((record, None, on_done))

    def close(self, timeout: float = 30.0) -> None:
        """Flush what is queued, then stop the thread."""
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def _take_batch(self) -> tuple[list[Any], bool]:
        first = self._q.get()
        if first is _STOP:
            return [], True
        batch = [first]
        stop = False
        while len(batch) < self.max_batch:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._take_batch()
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[Any]) -> None:
        records = [item[0] for item in batch]
        error: BaseException | None = None
        try:
            with self.db.engine.begin() as conn:
                for sink in self.sinks:
                    sink.write(conn, records)
            self.batches += 1
            self.records += len(records)
        except Exception as exc:  # the futures carry it to each waiting request
            log.exception("group commit of %d record(s) failed", len(records))
            error = exc
        for _record, loop, fut in batch:
            if loop is None:
                fut(error)
            else:
                loop.call_soon_threadsafe(_settle, fut, error)


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)
