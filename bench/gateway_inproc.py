"""CPU per request of the gateway's own Python, in one process, without the HTTP server.

    .venv/bin/python bench/gateway_inproc.py                 # 16 concurrent clients, 6,000 requests
    .venv/bin/python bench/gateway_inproc.py --profile out.prof

Drives the app directly over RSGI (a scope and a protocol object, as granian would for
``aiguillage serve``) against the fake upstream
(bench/fake_upstream.py, its own process) with the benchmark's short chat request, a real key,
``model: "auto"`` and the group-commit record on SQLite. Prints the CPU time per request of the
event-loop thread, of the writer thread, of the upstream HTTP client's runtime thread, and of the
whole process. CPU time is far less
sensitive than wall time to other work on a shared 2-core machine, which makes this the tool
for A/B comparisons of the request path; the end-to-end figures come from gateway_vs_litellm.py.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

# As ``aiguillage serve`` does: prometheus_client in multiprocess mode (memory-mapped values).
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="aiguillage-inproc-metrics-"))

import orjson  # noqa: E402
import uvloop  # noqa: E402

from gateway_common import BENCH, CHAT_BODY, PYTHON, Proc, cpu_times, free_port, http, wait_until  # noqa: E402

from aiguillage.api.app import App  # noqa: E402
from aiguillage.config import Settings, parse_settings  # noqa: E402
from aiguillage.keys import KeyStore  # noqa: E402
from aiguillage.store.db import Database  # noqa: E402


def thread_cpu(*names: str) -> float:
    """CPU seconds of the threads with these names (0 for one that is not running)."""
    total = 0.0
    for t in threading.enumerate():
        if t.name in names and t.native_id is not None:
            try:
                total += sum(cpu_times(Path(f"/proc/self/task/{t.native_id}/stat")))
            except OSError:
                pass
    return total


# The record's threads: the group-commit writer and the WAL checkpoints (store/checkpointer.py).
RECORD_THREADS = ("aiguillage-writer", "aiguillage-checkpoint")


def client_thread_cpu() -> float:
    """CPU seconds of the upstream HTTP client's runtime thread (pyreqwest's, not a Python thread:
    found by its OS name)."""
    total = 0.0
    for task in Path("/proc/self/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == "pyreqwest":
                total += sum(cpu_times(task / "stat"))
        except OSError:
            pass
    return total


class RsgiScope:
    """What granian's RSGI scope offers the App; headers as a dict (granian's mapping is Rust)."""

    proto = "http"
    method = "POST"
    path = "/v1/chat/completions"
    query_string = ""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class RsgiProto:
    """The RSGI protocol for one request: the body, and the status of the answer."""

    __slots__ = ("body", "status")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 0

    async def __call__(self) -> bytes:
        return self.body

    def response_bytes(self, status: int, headers: list, body: bytes) -> None:  # noqa: ARG002
        self.status = status


def rsgi_request(key: str) -> tuple[RsgiScope, bytes]:
    body = orjson.dumps({"model": "auto", **CHAT_BODY})
    return RsgiScope({"authorization": "Bearer " + key, "content-type": "application/json",
                      "content-length": str(len(body))}), body


async def drive(app: App, key: str, n: int, conc: int) -> None:
    scope, body = rsgi_request(key)
    failures = []

    async def one() -> None:
        proto = RsgiProto(body)
        await app.__rsgi__(scope, proto)
        if proto.status != 200:
            failures.append(proto.status)

    async def worker(k: int) -> None:
        for _ in range(k):
            await one()

    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[0]}")


def start_inproc(prefix: str, audit: bool = True) -> tuple[Proc, Settings, str]:
    """The fake upstream (its own process), settings for one deployment on it with SQLite in a
    fresh ``$AIGUILLAGE_HOME``, and a key for tenant ``bench``. The caller stops the upstream."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["AIGUILLAGE_HOME"] = str(work)
    port = free_port()
    up = Proc("fake-upstream", [PYTHON, str(BENCH / "fake_upstream.py"), "--port", str(port)], log=work / "up.log")
    try:
        wait_until(up, lambda: http("GET", f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200, 20, "health")
        raw: dict = {"models": [{"id": "bench-model", "provider": "openai", "base_url": f"http://127.0.0.1:{port}/v1",
                                 "model": "bench-upstream", "api_key": "sk-bench", "tier": "small",
                                 "jurisdiction": "eu", "price_eur_per_mtok": {"input": "0.2", "output": "0.6"},
                                 "context_window": 8192}],
                     "database_url": f"sqlite:///{work / 'g.db'}"}
        if not audit:
            raw["audit"] = {"enabled": False}
        settings = parse_settings(raw, "bench")
        db = Database(settings.database_url)
        db.migrate()
        key, _ = KeyStore(db).create("bench")
    except BaseException:
        up.stop()
        raise
    return up, settings, key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=6000)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-audit", action="store_true")
    ap.add_argument("--profile")
    args = ap.parse_args()
    up, settings, key = start_inproc("aiguillage-inproc-", audit=not args.no_audit)
    try:
        app = App(settings)

        async def run() -> None:
            await app.gw.start()
            await drive(app, key, 1000, args.conc)  # warm-up
            prof = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not GIL waits
            for r in range(args.rounds):
                ru0 = resource.getrusage(resource.RUSAGE_SELF)
                loop0, writer0, t0 = time.thread_time(), thread_cpu(*RECORD_THREADS), time.perf_counter()
                client0 = client_thread_cpu()
                if prof:
                    prof.enable()
                await drive(app, key, args.requests, args.conc)
                if prof:
                    prof.disable()
                loop_cpu, writer_cpu = time.thread_time() - loop0, thread_cpu(*RECORD_THREADS) - writer0
                client_cpu = client_thread_cpu() - client0
                ru1 = resource.getrusage(resource.RUSAGE_SELF)
                proc_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
                wall = time.perf_counter() - t0
                n = args.requests
                print(f"round {r}: loop {loop_cpu / n * 1e6:6.0f} µs/req  writer+checkpoint {writer_cpu / n * 1e6:5.0f} µs/req  "
                      f"HTTP client {client_cpu / n * 1e6:4.0f} µs/req  "
                      f"process {proc_cpu / n * 1e6:6.0f} µs/req  ({n / wall:,.0f} req/s wall, "
                      f"{app.gw.writer.records / max(1, app.gw.writer.batches):.1f} records/batch)", flush=True)
            if prof:
                prof.dump_stats(args.profile)
            await app.gw.close()

        uvloop.run(run())
    finally:
        up.stop()


if __name__ == "__main__":
    sys.exit(main())
