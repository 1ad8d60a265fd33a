"""Soak: a steady request rate, streaming and non-streaming mixed, for a given duration.

Samples the gateway's processes (granian master + workers) every ``--sample-s`` seconds: RSS
from /proc/<pid>/status and open file descriptors from /proc/<pid>/fd. Growth is measured
from the end of the warm-up to the end of the run (median of 3 samples at each end). Each
sample also sorts the gateway's TCP sockets (from /proc/net/tcp) by peer and state: pooled
connections to the upstreams, client connections, and any in CLOSE_WAIT, which is what a
connection leak looks like (the peer has closed, the gateway never did). The
primary upstream fails a small share of requests (500s, resets) so the fail-over path is
exercised for leaks too; the secondary is healthy, so the client should see no error.

    .venv/bin/python bench/resilience_soak.py --duration-s 1800 --warmup-s 120 --rate 25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from resilience_common import Fakes, GatewayUnderTest, LoadResult, one_request


def proc_sample(pids: list[int]) -> tuple[int, int, int]:
    """(RSS KiB, open fds, of which sockets) summed over ``pids``."""
    rss = fds = sockets = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for fd in os.listdir(f"/proc/{pid}/fd"):
                fds += 1
                try:
                    sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
                except OSError:
                    continue
        except OSError:
            continue
    return rss, fds, sockets


_TCP_STATES = {"01": "established", "06": "time_wait", "08": "close_wait", "0A": "listen"}


def tcp_sockets(pids: list[int], gateway_port: int, upstream_ports: set[int]) -> dict[str, int]:
    """The TCP sockets ``pids`` hold, counted by peer and state: ``upstream_established`` (the
    client's pool), ``client_established``, ``*_close_wait`` (a leak if it grows), ``listen``..."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    counts: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] not in inodes:
                continue
            local, remote = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
            state = _TCP_STATES.get(f[3], f"state_{f[3]}")
            if state == "listen":
                key = "listen"
            else:
                peer = ("upstream" if remote in upstream_ports else "client" if local == gateway_port else "other")
                key = f"{peer}_{state}"
            counts[key] = counts.get(key, 0) + 1
    return counts


async def soak(gw: GatewayUnderTest, args: argparse.Namespace, out: dict[str, Any], upstream_ports: set[int]
               ) -> LoadResult:
    import aiohttp

    res = LoadResult()
    rng = random.Random(11)
    samples: list[dict[str, Any]] = out["samples"]
    pending: set[asyncio.Task[None]] = set()
    conn = aiohttp.TCPConnector(limit=256)
    interval = 1.0 / args.rate
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as session:
        t0 = time.monotonic()
        next_sample = t0
        n = 0
        while (now := time.monotonic()) - t0 < args.duration_s:
            if now >= next_sample:
                pids = gw.proc.group_pids()
                rss, fds, sockets = proc_sample(pids)
                samples.append({"t_s": round(now - t0, 1), "rss_kb": rss, "fds": fds, "sockets": sockets,
                                "tcp": tcp_sockets(pids, gw.port, upstream_ports), "pids": len(pids),
                                "requests": len(res.latencies_ms), "errors": res.errors,
                                "inflight": len(pending)})
                print(json.dumps(samples[-1]), flush=True)
                next_sample += args.sample_s
            task = asyncio.create_task(one_request(session, gw.url, gw.key, rng.random() < args.stream_share, res))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
            # Fixed schedule (not sleep-after-send), so the rate stays steady whatever the latency.
            await asyncio.sleep(max(0.0, t0 + n * interval - time.monotonic()))
        await asyncio.gather(*pending)
        res.seconds = time.monotonic() - t0
    return res


def growth(samples: list[dict[str, Any]], warmup_s: float, key: str) -> dict[str, float]:
    after = [s[key] for s in samples if s["t_s"] >= warmup_s]
    if len(after) < 6:
        return {"start": float("nan"), "end": float("nan"), "growth_pct": float("nan")}
    start, end = statistics.median(after[:3]), statistics.median(after[-3:])
    return {"start": start, "end": end, "max": max(after), "growth_pct": round(100 * (end - start) / start, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration-s", type=float, default=1800)
    ap.add_argument("--warmup-s", type=float, default=120)
    ap.add_argument("--rate", type=float, default=25, help="requests per second")
    ap.add_argument("--stream-share", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample-s", type=float, default=10)
    ap.add_argument("--faults", default="0.01,0.005,0", help="primary's share of 500s, resets, stalls")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    fakes = Fakes([f"primary:{args.faults}", "secondary:0,0,0"])
    cfg = {"models": [
        {"id": "primary", "provider": "openai", "base_url": fakes.url("primary"), "model": "p", "api_key": "sk",
         "tier": "small", "jurisdiction": "eu", "price_eur_per_mtok": {"input": "0.1", "output": "0.3"}},
        {"id": "secondary", "provider": "openai", "base_url": fakes.url("secondary"), "model": "s", "api_key": "sk",
         "tier": "medium", "jurisdiction": "eu", "price_eur_per_mtok": {"input": "1", "output": "3"}}],
        # A breaker that rarely opens at this fault rate, so both paths keep being used.
        "resilience": {"backoff_base_s": 0.01, "breaker_failures": 20, "breaker_window_s": 10}}
    out: dict[str, Any] = {"machine": f"{platform.node()} ({os.cpu_count()} cores)", "args": {
        k: str(v) for k, v in vars(args).items()}, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "samples": []}
    gw = GatewayUnderTest(cfg, args.workers)
    try:
        res = asyncio.run(soak(gw, args, out, set(fakes.ports.values())))
        out["final"] = proc_sample(gw.proc.group_pids())
    finally:
        gw.stop()
        out["upstream_actions"] = fakes.stats()
        fakes.stop()
    out["load"] = res.summary()
    out["rss"] = growth(out["samples"], args.warmup_s, "rss_kb")
    out["fds"] = growth(out["samples"], args.warmup_s, "fds")
    out["sockets"] = growth(out["samples"], args.warmup_s, "sockets")  # the part of the fds that is connections
    # The load generator's own pool decides how many client connections are open (it grows
    # when latencies overlap): the gateway's fds less those are what a leak would show in.
    for s in out["samples"]:
        s["fds_less_clients"] = s["fds"] - sum(n for k, n in s["tcp"].items() if k.startswith("client_"))
    out["fds_less_clients"] = growth(out["samples"], args.warmup_s, "fds_less_clients")
    kinds = sorted({k for s in out["samples"] for k in s["tcp"]})
    out["tcp"] = {k: {"first": out["samples"][0]["tcp"].get(k, 0), "max": max(s["tcp"].get(k, 0) for s in out["samples"]),
                      "last": out["samples"][-1]["tcp"].get(k, 0)} for k in kinds}
    out["ended"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps({k: v for k, v in out.items() if k != "samples"}, indent=2)
    print(text)
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
