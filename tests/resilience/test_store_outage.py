"""The database goes away under a running gateway (PostgreSQL restarting, a failover): requests
that cannot be recorded get a 503 ``store_unavailable`` in the OpenAI format, never a 500 and
never an unrecorded 200, and the gateway serves again as soon as the database is back.

The outage is a TCP forwarder in front of the real PostgreSQL, cut and restored by the test."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg
import pytest
import sqlalchemy as sa

from aiguillage.keys import KeyStore
from aiguillage.store.db import Database, contention, unavailable
from aiguillage.store.writer import GroupCommitWriter
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.tcp_forwarder import TcpForwarder
from tests.support import GatewayProcess, catalog, free_port, openai_deployment

pytestmark = pytest.mark.postgres
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    name = f"aig_outage_{secrets.token_hex(5)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _gateway_behind_forwarder(tmp_path: Path, pg_database: str, query: str = "",
                              **top: Any) -> Iterator[tuple[GatewayProcess, TcpForwarder, FakeOpenAI]]:
    """A gateway (one worker) on the real PostgreSQL through a forwarder the test can cut, and
    a fake upstream ``u``."""
    forwarder = TcpForwarder("127.0.0.1", 5432).start()
    upstream = FakeOpenAI("u").start()
    cfg = catalog(openai_deployment("u", upstream.url),
                  database_url=f"postgresql://postgres@127.0.0.1:{forwarder.port}/{pg_database}{query}", **top)
    gw = GatewayProcess(tmp_path, cfg, workers=1)
    try:
        gw.start()
        yield gw, forwarder, upstream
    finally:
        forwarder.resume()
        gw.stop()
        upstream.stop()
        forwarder.stop()


def _assert_store_unavailable(status: int, headers: httpx.Headers, error: dict) -> None:
    assert status == 503
    assert error["code"] == "store_unavailable" and error["type"] == "server_error"
    assert "database" in error["message"] and "not acknowledged" in error["message"]
    assert "127.0.0.1" not in error["message"]  # the client is not told where the database is
    assert headers["retry-after"] == "1"


def test_a_database_outage_is_a_503_and_the_gateway_recovers(tmp_path: Path, pg_database: str) -> None:
    # connect_timeout in the URL wins over the gateway's own default (10 s): the black hole below.
    with _gateway_behind_forwarder(tmp_path, pg_database, "?connect_timeout=2") as (gw, forwarder, _upstream):
        key = gw.key()
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
        assert client.chat.completions.create(model="auto", messages=MESSAGES).choices[0].message.content

        forwarder.cut()

        # Answered by the upstream, but not recorded: a 503, not the answer.
        with pytest.raises(openai.InternalServerError) as exc_info:
            client.chat.completions.create(model="auto", messages=MESSAGES)
        resp = exc_info.value.response
        _assert_store_unavailable(resp.status_code, resp.headers, resp.json()["error"])

        # Until the gateway has found the database back, requests are refused before going
        # upstream; then served.
        forwarder.restore()
        _served_again(gw.url, {"authorization": f"Bearer {key}"})

        # A stream, the first request after the database went away again: the chunks, then the
        # error where the end would have been.
        forwarder.cut()
        stream = client.chat.completions.create(model="auto", messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True})
        chunks = []
        with pytest.raises(openai.APIError) as stream_error:
            for chunk in stream:
                chunks.append(chunk)
        assert "database" in str(stream_error.value.message)
        assert chunks and all(c.usage is None for c in chunks)  # no final usage chunk: not acknowledged

        # A key the gateway has not seen yet (created meanwhile, straight in PostgreSQL) cannot
        # be checked: a 503, not a 401 that would tell the client its key is wrong.
        db = Database(f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_database}")
        late_key = KeyStore(db).create("late")[0]
        db.dispose()
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES},
                       headers={"authorization": f"Bearer {late_key}"}, timeout=30)
        _assert_store_unavailable(r.status_code, r.headers, r.json()["error"])

        forwarder.restore()
        _served_again(gw.url, {"authorization": f"Bearer {late_key}"})  # the pools reconnect at their next checkout
        assert client.chat.completions.create(model="auto", messages=MESSAGES).choices[0].message.content

        # A database that accepts connections and never answers: the connect timeout bounds the
        # wait, and the request gets the 503 rather than hanging.
        forwarder.black_hole()
        t0 = time.monotonic()
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES},
                       headers={"authorization": f"Bearer {key}"}, timeout=60)
        waited = time.monotonic() - t0
        _assert_store_unavailable(r.status_code, r.headers, r.json()["error"])
        assert waited < 10, waited
        forwarder.restore()
        _served_again(gw.url, {"authorization": f"Bearer {key}"})

        # /metrics counts what the clients got: the three answers that could not be recorded (the
        # non-streamed one and the stream during the cut, one in the black hole) as 503s, not 200s.
        # The late key's request never got past the key check: not a request to a deployment.
        def requests_by_status() -> dict[str, float]:
            counts: dict[str, float] = {}
            for line in httpx.get(gw.url + "/metrics", timeout=10).text.splitlines():
                if line.startswith("aiguillage_requests_total{") and 'deployment="u"' in line:
                    status = line.split('status="', 1)[1].split('"', 1)[0]
                    counts[status] = counts.get(status, 0) + float(line.rsplit(" ", 1)[1])
            return counts

        expected = {"200": 5, "503": 3}  # 200s: before the cut, three after the cuts, one after the black hole
        deadline = time.monotonic() + 10
        while requests_by_status() != expected and time.monotonic() < deadline:
            time.sleep(0.3)  # the workers flush their counts every second or so
        assert requests_by_status() == expected

        verify = gw.cli("audit", "verify", check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr


def _wait_for_count(url: str, series: str, expected: float) -> None:
    """Until the series in /metrics reads ``expected`` (the workers flush their counts every second)."""
    deadline = time.monotonic() + 10
    while True:
        got = next((float(line.rsplit(" ", 1)[1]) for line in httpx.get(url + "/metrics", timeout=10).text.splitlines()
                    if line.startswith(series + " ")), None)
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert got == expected, (series, got, expected)


def _served_again(url: str, auth: dict[str, str], within_s: float = 10.0) -> float:
    """Post until a chat completion is served (refused meanwhile: 503 ``store_unavailable``, the
    request not served); how long that took."""
    t0 = time.monotonic()
    while True:
        r = httpx.post(url + "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES},
                       headers=auth, timeout=30)
        if r.status_code == 200:
            return time.monotonic() - t0
        _assert_store_unavailable(r.status_code, r.headers, r.json()["error"])
        assert time.monotonic() - t0 < within_s, r.text
        time.sleep(0.05)


def test_which_sqlite_errors_mean_the_database_is_unavailable(tmp_path: Path) -> None:
    # Real errors from SQLite, wrapped by SQLAlchemy as the request path sees them.
    import sqlalchemy as sa

    from aiguillage.store.db import contention, unavailable

    path = tmp_path / "db.sqlite"
    with sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    read_only = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(sa.exc.OperationalError) as readonly_error, read_only.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert unavailable(readonly_error.value) == "SQLite: read-only"

    missing = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite'}")
    with pytest.raises(sa.exc.OperationalError) as cantopen_error, missing.connect():
        pass
    assert unavailable(cantopen_error.value) == "SQLite: cannot open the file"
    assert not contention(readonly_error.value) and not contention(cantopen_error.value)

    # Another process writing, past the busy timeout: unavailable for this request, but contention,
    # not the database being down.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    impatient = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with pytest.raises(sa.exc.OperationalError) as busy_error, impatient.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    holder.close()
    assert unavailable(busy_error.value) == "SQLite: busy" and contention(busy_error.value)

    # A statement that is wrong is a bug, not an outage: it stays a 500.
    with pytest.raises(sa.exc.OperationalError) as bug, sa.create_engine(f"sqlite:///{path}").begin() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    assert unavailable(bug.value) is None
    assert unavailable(ValueError("unrelated")) is None


def test_the_gateway_bounds_connecting_to_postgresql_unless_the_url_says_otherwise(pg_url: str) -> None:
    from aiguillage.store.db import pg_connect_defaults

    def libpq_settings(url: str) -> dict[str, str]:
        db = Database(url)
        try:
            with db.engine.connect() as conn:
                return dict(conn.connection.driver_connection.info.get_parameters())
        finally:
            db.dispose()

    base = "postgresql://postgres@127.0.0.1:5432/test"
    given = libpq_settings(base)
    assert (given["connect_timeout"], given["keepalives_idle"], given["tcp_user_timeout"]) == ("10", "10", "30000")
    assert libpq_settings(base + "?connect_timeout=3&keepalives_idle=60")["connect_timeout"] == "3"
    assert libpq_settings(base + "?connect_timeout=3&keepalives_idle=60")["keepalives_idle"] == "60"
    assert pg_connect_defaults("postgresql+psycopg://u@h/db?service=prod") == {}  # the service file decides
    assert pg_connect_defaults("postgresql+pg8000://u@h/db") == {}  # another driver: libpq words mean nothing


def test_a_database_that_stalls_mid_query_is_a_503_within_the_record_timeout(tmp_path: Path, pg_database: str) -> None:
    """PostgreSQL stops answering on live connections while its peer still acknowledges every
    packet (a server process that froze, a proxy in front of a dead server): no connection
    setting bounds that wait, the record timeout does."""
    auth = {"authorization": ""}
    with _gateway_behind_forwarder(tmp_path, pg_database, resilience={"record_timeout_s": 2}) as (gw, forwarder, upstream):
        key = gw.key()
        auth["authorization"] = f"Bearer {key}"
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=60)
        assert client.chat.completions.create(model="auto", messages=MESSAGES).choices[0].message.content

        forwarder.stall()
        t0 = time.monotonic()
        with pytest.raises(openai.InternalServerError) as exc_info:
            client.chat.completions.create(model="auto", messages=MESSAGES)
        waited = time.monotonic() - t0
        resp = exc_info.value.response
        _assert_store_unavailable(resp.status_code, resp.headers, resp.json()["error"])
        assert "did not confirm the record within 2 s" in resp.json()["error"]["message"]
        assert "may still be committed later" in resp.json()["error"]["message"]
        assert 1.9 < waited < 6, waited

        # The writer is still waiting on the stalled connection: the next requests are told at
        # once, and nothing is sent upstream for them.
        calls = len(upstream.requests)
        for _ in range(3):
            t0 = time.monotonic()
            r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES},
                           headers=auth, timeout=30)
            _assert_store_unavailable(r.status_code, r.headers, r.json()["error"])
            assert "the request was not served" in r.json()["error"]["message"]
            assert time.monotonic() - t0 < 1.0
        assert len(upstream.requests) == calls
        _wait_for_count(gw.url, 'aiguillage_requests_refused_total{reason="commit_stuck"}', 3)

        forwarder.resume()
        deadline = time.monotonic() + 15
        while True:
            r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES},
                           headers=auth, timeout=30)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        verify = gw.cli("audit", "verify", check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_while_the_database_is_down_requests_are_refused_before_going_upstream(tmp_path: Path, pg_database: str) -> None:
    """Once a commit has failed for want of the database, requests are answered 503 at once
    instead of being paid for upstream, their prompt sent out, and then not recorded. The
    gateway itself probes the database every second, and serves again once it is back."""
    with _gateway_behind_forwarder(tmp_path, pg_database, "?connect_timeout=2") as (gw, forwarder, upstream):
        auth = {"authorization": f"Bearer {gw.key()}"}

        def chat() -> httpx.Response:
            return httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES},
                              headers=auth, timeout=30)

        assert chat().status_code == 200
        forwarder.cut()
        calls = len(upstream.requests)
        t0 = time.monotonic()
        answers = []
        while time.monotonic() - t0 < 2.5:  # a few probes fail meanwhile
            r = chat()
            _assert_store_unavailable(r.status_code, r.headers, r.json()["error"])
            answers.append(r.json()["error"]["message"])
            time.sleep(0.05)
        assert len(answers) >= 8
        assert "the request was not recorded" in answers[0]  # answered upstream, then not recorded
        assert all("the request was not served" in a for a in answers[1:]), answers
        assert len(upstream.requests) - calls == 1  # only the first, which found the database gone
        _wait_for_count(gw.url, 'aiguillage_requests_refused_total{reason="database_down"}', len(answers) - 1)

        forwarder.restore()
        assert _served_again(gw.url, auth) < 2.5  # the next second's probe found the database back
        assert chat().status_code == 200
        verify = gw.cli("audit", "verify", check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_lock_timeout_fails_the_batch_but_only_a_database_that_is_down_refuses_requests(pg_database: str) -> None:
    """A row lock held elsewhere past the writer's lock_timeout fails that batch (55P03), but it
    is contention: new requests are not refused. A database that cannot be reached is down: they
    are, until a probe a second later."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_database}"
    db = Database(url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE contended (id int PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO contended VALUES (1)")

    class LockingSink:
        def write(self, conn: sa.Connection, records: Any) -> None:
            conn.exec_driver_sql("SELECT id FROM contended WHERE id = 1 FOR UPDATE")

    contended = GroupCommitWriter(db, [LockingSink()], timeout_s=1.0)
    down_db = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/{pg_database}")
    down = GroupCommitWriter(down_db, [LockingSink()], timeout_s=1.0)
    contended.start()
    down.start()
    holder = psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    holder.execute("SELECT id FROM contended WHERE id = 1 FOR UPDATE")  # and keep the transaction open

    async def main() -> tuple[BaseException, BaseException, tuple[str, str] | None]:
        down_error = (await asyncio.gather(down.submit({"n": 1}), return_exceptions=True))[0]
        refused = down.refusal()  # at once
        lock_error = (await asyncio.gather(contended.submit({"n": 1}), return_exceptions=True))[0]
        return lock_error, down_error, refused  # type: ignore[return-value]

    try:
        lock_error, down_error, refused_at_once = asyncio.run(main())
        # lock_timeout or statement_timeout, both at the writer's timeout: whichever fires first
        assert lock_error.orig.sqlstate in {"55P03", "57014"}  # type: ignore[attr-defined]
        assert unavailable(lock_error) and contention(lock_error)
        deadline = time.monotonic() + 5
        # The thread, which spent the whole timeout on that batch, is a moment from being done with it.
        while (refused := contended.refusal()) == ("commit_stuck", "it has not finished a commit for over 1 s") \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert refused is None
        assert unavailable(down_error) == "PostgreSQL unreachable or failing" and not contention(down_error)
        assert refused_at_once == ("database_down", "PostgreSQL unreachable or failing")
        assert down.probe_if_down() and not down.probe_if_down()  # one probe at a time
        deadline = time.monotonic() + 5
        while not down.probe_if_down() and time.monotonic() < deadline:  # the first one is over
            time.sleep(0.01)
        assert down.refusal() == ("database_down", "PostgreSQL unreachable or failing")  # the probe found it still down
        assert not contended.probe_if_down()  # nothing to find out
    finally:
        holder.close()
        contended.close()
        down.close()
        down_db.dispose()
        db.dispose()


def test_a_replica_frozen_inside_its_transaction_loses_it_and_the_others_go_on(pg_database: str) -> None:
    """Two writers on one PostgreSQL, as two replicas. One takes the shared row lock and then
    freezes (its sink sleeps, as a paused process would): the server ends its transaction
    after the writer's idle-in-transaction bound, and the other's record is committed."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_database}"
    db = Database(url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE stall_head (id int PRIMARY KEY, n int NOT NULL)")
        conn.exec_driver_sql("INSERT INTO stall_head VALUES (1, 0)")
    seen: dict[str, tuple[str, str, str]] = {}
    locked = threading.Event()

    class HeadSink:
        def __init__(self, name: str, freeze_s: float = 0.0) -> None:
            self.name, self.freeze_s = name, freeze_s

        def write(self, conn: sa.Connection, records: Any) -> None:
            seen[self.name] = conn.exec_driver_sql(
                "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "
                "current_setting('idle_in_transaction_session_timeout')").one()
            conn.exec_driver_sql("SELECT n FROM stall_head WHERE id = 1 FOR UPDATE")
            if self.freeze_s:
                locked.set()
            time.sleep(self.freeze_s)
            conn.exec_driver_sql("UPDATE stall_head SET n = n + %(k)s WHERE id = 1", {"k": len(records)})

    frozen = GroupCommitWriter(db, [HeadSink("frozen", freeze_s=5.0)], timeout_s=1.0)
    other = GroupCommitWriter(Database(url), [HeadSink("other")], timeout_s=10.0)
    frozen.start()
    other.start()

    async def main() -> tuple[BaseException | None, float]:
        stuck = frozen.submit({"n": 1})
        assert await asyncio.to_thread(locked.wait, 10)  # the frozen writer holds the row lock now
        t0 = time.monotonic()
        await asyncio.wait_for(other.submit({"n": 2}), 10)
        waited = time.monotonic() - t0
        try:
            await asyncio.wait_for(stuck, 10)
        except Exception as exc:  # noqa: BLE001 - asserted below
            return exc, waited
        return None, waited

    try:
        error, waited = asyncio.run(main())
    finally:
        frozen.close()
        other.close()
    assert seen["frozen"] == ("1s", "1s", "1s") and seen["other"] == ("10s", "10s", "10s")
    assert 0.5 < waited < 2.5, waited  # after the 1 s idle bound, not when the frozen one woke up
    assert error is not None and unavailable(error) == "PostgreSQL unreachable or failing"
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM stall_head").scalar_one() == 1  # only the other's
    db.dispose()
