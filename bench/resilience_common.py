"""Shared parts of the resilience benchmarks: fault-injecting fake upstreams in their own
process, the gateway as a real ``aiguillage serve`` process, and an async load generator.

    python bench/resilience_common.py fakes --spec primary:0.05,0.02,0.02 --spec secondary:0,0,0
runs the fakes (one per --spec: name:share_500,share_reset,share_stall) and prints their ports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from gateway_common import PYTHON, Proc, free_port, http, wait_until  # noqa: E402


# -- fakes (child process) ---------------------------------------------------------------------
def run_fakes(specs: list[str], seed: int) -> None:
    from tests.fakes.openai_upstream import FakeOpenAI

    class RandomFaults(FakeOpenAI):
        def __init__(self, name: str, shares: list[float]) -> None:
            super().__init__(name)
            self.shares = shares
            self.rng = random.Random(f"{seed}-{name}")
            self.stall_s = 5.0
            self.requests = deque(maxlen=100)  # type: ignore[assignment]  # bounded: soak runs for hours
            self.actions: Counter[str] = Counter()

        def _next(self) -> str:
            x = self.rng.random()
            p500, preset, pstall = self.shares
            action = ("500" if x < p500 else "reset" if x < p500 + preset
                      else "stall" if x < p500 + preset + pstall else "ok")
            self.actions[action] += 1
            return action

    fakes = []
    for spec in specs:
        name, _, shares = spec.partition(":")
        fakes.append(RandomFaults(name, [float(s) for s in shares.split(",")]).start())
    print(json.dumps({f.name: f.port for f in fakes}), flush=True)
    try:
        for line in sys.stdin:  # "stats" prints the action counts; EOF stops
            if line.strip() == "stats":
                print(json.dumps({f.name: dict(f.actions) for f in fakes}), flush=True)
    finally:
        for f in fakes:
            f.stop()


class Fakes:
    def __init__(self, specs: list[str], seed: int = 1) -> None:
        import subprocess

        cmd = [PYTHON, str(Path(__file__).resolve()), "fakes", "--seed", str(seed)]
        for s in specs:
            cmd += ["--spec", s]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  start_new_session=True)
        assert self.p.stdout is not None
        self.ports: dict[str, int] = json.loads(self.p.stdout.readline())

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/v1"

    def stats(self) -> dict[str, dict[str, int]]:
        assert self.p.stdin is not None and self.p.stdout is not None
        self.p.stdin.write("stats\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def stop(self) -> None:
        if self.p.stdin is not None:
            self.p.stdin.close()
        try:
            self.p.wait(10)
        except Exception:
            self.p.kill()


# -- the gateway ---------------------------------------------------------------------------------
class GatewayUnderTest:
    def __init__(self, config: dict[str, Any], workers: int) -> None:
        import yaml

        from aiguillage.keys import KeyStore
        from aiguillage.store.db import Database

        self.home = Path(tempfile.mkdtemp(prefix="aiguillage-resilience-"))
        db_url = f"sqlite:///{self.home / 'gw.db'}"
        cfg_path = self.home / "config.yaml"
        cfg_path.write_text(yaml.safe_dump({**config, "database_url": db_url}, sort_keys=False))
        db = Database(db_url)
        self.key = KeyStore(db).create("acme")[0]
        db.engine.dispose()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"AIGUILLAGE_HOME": str(self.home), "PYTHONPATH": str(REPO / "src")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = Proc("aiguillage", [PYTHON, "-m", "aiguillage", "serve", "--host", "127.0.0.1", "--port",
                                        str(self.port), "--workers", str(workers), "--config", str(cfg_path)],
                         env=env, log=self.home / "serve.log")
        wait_until(self.proc, lambda: http("GET", self.url + "/healthz", timeout=1)[0] == 200, 120, "/healthz")

    def stop(self) -> None:
        self.proc.stop()


# -- load ----------------------------------------------------------------------------------------
BODY = {"messages": [{"role": "user", "content": "Say hello in French."}], "max_tokens": 16}


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "200")

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")

    def summary(self) -> dict[str, Any]:
        return {"requests": len(self.latencies_ms), "errors": self.errors, "statuses": dict(self.statuses),
                "served_by": dict(self.models), "seconds": round(self.seconds, 1),
                "rps": round(len(self.latencies_ms) / self.seconds, 1) if self.seconds else 0,
                "p50_ms": round(self.pct(50), 2), "p90_ms": round(self.pct(90), 2), "p99_ms": round(self.pct(99), 2),
                "p999_ms": round(self.pct(99.9), 2), "max_ms": round(max(self.latencies_ms, default=0), 2),
                "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else 0,
                "error_samples": self.error_samples}


async def one_request(session: Any, url: str, key: str, stream: bool, res: LoadResult) -> None:
    import aiohttp

    t = time.perf_counter()
    status = "exception"
    try:
        async with session.post(url + "/v1/chat/completions", json={**BODY, "stream": stream},
                                headers={"authorization": f"Bearer {key}"}) as r:
            raw = await r.read()
            status = str(r.status)
            if r.status == 200 and stream:
                # An error event inside a 200 stream is a client-visible error too.
                if b'"error"' in raw or not raw.rstrip().endswith(b"data: [DONE]"):
                    status = "stream_error"
            res.models[r.headers.get("x-aiguillage-model", "?")] += 1
            if status != "200" and len(res.error_samples) < 5:
                res.error_samples.append(raw[-600:].decode("utf-8", "replace"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        status = type(exc).__name__
    res.latencies_ms.append((time.perf_counter() - t) * 1000)
    res.statuses[status] += 1


async def closed_loop(url: str, key: str, n: int, concurrency: int, stream_share: float, seed: int = 7) -> LoadResult:
    """``n`` requests from ``concurrency`` workers, each sending its next as soon as one ends."""
    import aiohttp

    res = LoadResult()
    rng = random.Random(seed)
    plan = [rng.random() < stream_share for _ in range(n)]
    it = iter(plan)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def worker() -> None:
            for stream in it:
                await one_request(session, url, key, stream, res)

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        res.seconds = time.perf_counter() - t
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fakes"])
    ap.add_argument("--spec", action="append", default=[])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run_fakes(args.spec, args.seed)


if __name__ == "__main__":
    main()
