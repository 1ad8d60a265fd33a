"""One verifiable sequence whatever writes to it: the group-commit writer, threads, processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import settings_with
from records import fill, make_record

from aiguillage.audit import AuditLog
from aiguillage.audit.tables import entries
from aiguillage.store.db import Database
from aiguillage.store.writer import GroupCommitWriter

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"


def _seqs(log: AuditLog) -> list[int]:
    with log.db.engine.connect() as conn:
        return [r.seq for r in conn.execute(sa.select(entries.c.seq).order_by(entries.c.seq))]


def test_group_commit_writer_with_the_sink(log: AuditLog) -> None:
    writer = GroupCommitWriter(log.db, [log.sink()])
    writer.start()
    done: list[BaseException | None] = []
    records = [make_record(i) for i in range(150)]
    for rec in records:
        writer.submit_nowait(rec, done.append)
    writer.close()
    assert done == [None] * 150
    assert writer.batches < 150  # records were grouped
    res = log.verify()
    assert res.ok and res.entries == 150
    assert log.get_decision(records[77]["decision_id"], "acme") is not None


def test_failed_transaction_leaves_no_entry(log: AuditLog) -> None:
    """An event is in the log iff its transaction committed."""
    fill(log, 4)
    with pytest.raises(RuntimeError), log.db.engine.begin() as conn:
        log.sink().write(conn, [make_record(9)])
        raise RuntimeError("crash before commit")
    fill(log, 4)
    res = log.verify()
    assert res.ok and res.entries == 8 and _seqs(log) == list(range(8))


def test_two_threads_with_separate_engines(db_url: str, databases: list[Database]) -> None:
    logs = []
    for _ in range(2):
        db = Database(db_url)
        databases.append(db)
        logs.append(AuditLog(db, settings_with()))
    errors: list[BaseException] = []

    def run(log: AuditLog) -> None:
        try:
            fill(log, 60, batch=3)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(lg,)) for lg in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    res = logs[0].verify()
    assert res.ok, res.message
    assert res.entries == 120 and _seqs(logs[0]) == list(range(120))


WRITER = """
import sys
sys.path.insert(0, {tests!r})
from conftest import settings_with
from records import fill
from aiguillage.audit import AuditLog
from aiguillage.store.db import Database
log = AuditLog(Database({url!r}), settings_with())
fill(log, 80, batch=2)
"""


def test_two_processes_on_one_sqlite_file(tmp_path: Path, databases: list[Database]) -> None:
    """Separate processes (as with several workers on one host) serialise on the SQLite write lock."""
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    # First start creates the keys; the processes then share them, as replicas would.
    db = Database(db_url)
    databases.append(db)
    log = AuditLog(db, settings_with())
    code = WRITER.format(tests=str(HERE), url=db_url)
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    res = log.verify()
    assert res.ok, res.message
    assert res.entries == 160 and _seqs(log) == list(range(160))


def test_replica_with_other_keys_refuses_to_start(
    log: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIGUILLAGE_AUDIT_KEY_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(RuntimeError, match="AIGUILLAGE_AUDIT_KEY_DIR"):
        AuditLog(Database(log.db.url), settings_with())


def test_verify_while_writers_append(log: AuditLog) -> None:
    fill(log, 20)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                fill(log, 2, batch=2)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    try:
        results = [log.verify() for _ in range(5)]
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert all(r.ok for r in results), [r.message for r in results if not r.ok]
    assert log.verify().entries > 20
