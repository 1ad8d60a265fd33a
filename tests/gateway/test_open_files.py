"""Open files, the gateway's own limit: each request in flight holds a client connection and an
upstream one, so a burst of c concurrent requests needs about 2c descriptors in one worker.

* Started under a soft limit below that, ``aiguillage serve`` still serves the burst: the soft
  limit is raised to the hard one at start (granian does it; this pins the behaviour).
* Under a hard limit below that, the requests that find no descriptor get a 503 ``out_of_files``
  in the OpenAI format, never a 500, and the deployment is not blamed: its breaker stays closed,
  and the gateway serves normally once the burst is over, every acknowledged request recorded."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

BURST = 300
LIMIT = 256


def _soft_open_files(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError(f"no open-file limit in /proc/{pid}/limits")


def _group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return pids


async def _burst(port: int, key: str) -> list[tuple[int, dict[str, str], bytes]]:
    """BURST chat completions at once, each on its own connection: (status, headers, body)."""
    body = orjson.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
               b"authorization: Bearer " + key.encode() + b"\r\ncontent-length: " + str(len(body)).encode()
               + b"\r\nconnection: close\r\n\r\n" + body)

    async def one() -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            raw = await asyncio.wait_for(reader.read(), 30)
        finally:
            writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict((k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in lines[1:]))
        return int(lines[0].split()[1]), headers, payload

    return list(await asyncio.gather(*(one() for _ in range(BURST))))


def _gateway(tmp_path: Path, upstream: FakeOpenAI, limits: tuple[int, int], host: str = "127.0.0.1"
             ) -> GatewayProcess:
    upstream.latency_s = 1.0  # every call of the burst is in flight at once
    url = upstream.url.replace("127.0.0.1", host)
    return GatewayProcess(tmp_path, catalog(openai_deployment("burst", url)), workers=1, open_files=limits)


def test_a_burst_beyond_the_inherited_soft_limit_is_served(tmp_path: Path) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= 4 * BURST, f"this test needs a hard limit on open files of at least {4 * BURST} (it is {hard})"
    upstream = FakeOpenAI("burst").start()
    gw = _gateway(tmp_path, upstream, (LIMIT, hard))
    try:
        gw.start()
        assert gw.proc is not None
        pids = _group(gw.proc.pid)
        assert len(pids) >= 2  # granian's main process and its worker
        assert {_soft_open_files(pid) for pid in pids} == {hard}
        statuses = [status for status, _h, _b in asyncio.run(_burst(gw.port, gw.key()))]
        assert statuses == [200] * BURST, sorted(statuses)[:5]
        assert len(upstream.requests) == BURST
    finally:
        gw.stop()
        upstream.stop()


# An address connects at once and fails for want of a socket; a host name fails earlier, in the
# resolver, with an error that does not say why.
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_running_out_of_open_files_is_a_503_that_does_not_blame_the_deployment(tmp_path: Path, host: str) -> None:
    upstream = FakeOpenAI("burst").start()
    gw = _gateway(tmp_path, upstream, (LIMIT, LIMIT), host)
    try:
        gw.start()
        key = gw.key()
        auth = {"authorization": f"Bearer {key}"}
        chat = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
        # A gateway in service: its key known, its files (metrics, database) open.
        assert httpx.post(gw.url + "/v1/chat/completions", json=chat, headers=auth, timeout=10).status_code == 200

        answers = asyncio.run(_burst(gw.port, key))

        by_status: dict[int, int] = {}
        for status, _h, _b in answers:
            by_status[status] = by_status.get(status, 0) + 1
        assert set(by_status) == {200, 503}, by_status  # never a 500; the limit was really reached
        for status, headers, payload in answers:
            if status == 503:
                error = json.loads(payload)["error"]
                assert error["code"] == "out_of_files" and error["type"] == "server_error"
                assert "open files" in error["message"] and headers["retry-after"] == "1"

        # Over: served again, and the deployment was not blamed for the gateway's own limit.
        r = httpx.post(gw.url + "/v1/chat/completions", json=chat, headers=auth, timeout=10)
        assert r.status_code == 200
        models = httpx.get(gw.url + "/v1/models", headers=auth, timeout=10).json()["data"]
        assert [m["status"] for m in models if m["id"] == "burst"] == ["available"]
        # Every acknowledged answer has its record.
        acknowledged = [h["x-aiguillage-decision"] for s, h, _b in answers if s == 200]
        for decision in acknowledged:
            assert httpx.get(f"{gw.url}/v1/decisions/{decision}", headers=auth, timeout=10).status_code == 200
        assert gw.cli("audit", "verify").returncode == 0
    finally:
        gw.stop()
        upstream.stop()


def test_no_database_connection_crosses_the_fork_into_the_workers(tmp_path: Path) -> None:
    # SQLite forbids using a connection across fork(), and a forked copy of its descriptor is a
    # trap: closing it in a worker would drop that worker's POSIX locks on the file. `serve`
    # creates the schema before granian forks the workers, then closes that connection.
    upstream = FakeOpenAI("fork").start()
    gw = GatewayProcess(tmp_path, catalog(openai_deployment("fork", upstream.url)), workers=2)
    try:
        gw.start()
        assert gw.proc is not None
        database = (tmp_path / "aiguillage.db").resolve()

        def holders() -> dict[int, list[int]]:
            held: dict[int, list[int]] = {}
            for pid in _group(gw.proc.pid):  # type: ignore[union-attr]
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    try:
                        if Path(fd.readlink()) == database:
                            held.setdefault(pid, []).append(int(fd.name))
                    except OSError:
                        continue
            return held

        deadline = time.monotonic() + 20
        while len(held := holders()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # /healthz answered from one worker; the other may still be starting
        assert gw.proc.pid not in held  # the parent that forks the workers holds none
        assert len(held) == 2  # each worker opened its own
    finally:
        gw.stop()
        upstream.stop()
