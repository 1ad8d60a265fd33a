"""Fault injection: 0 client-visible errors while the primary deployment misbehaves.

The primary answers 500 to 5% of requests, drops the connection on 2% and stalls past the
first-token timeout on 2%; the secondary is healthy. A baseline run with no faults gives the
latency the faults add. Two gateway configurations: the default breaker (opens after 5
failures in 30 s) and the breaker effectively off, so every fault is met and failed over.

    .venv/bin/python bench/resilience_faults.py --requests 20000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path
from typing import Any

from resilience_common import Fakes, GatewayUnderTest, closed_loop

TIMEOUTS = {"connect": 1.0, "first_token": 0.5, "idle": 0.5, "total": 30.0}


def config(fakes: Fakes, primary: str, breaker_failures: int) -> dict[str, Any]:
    def dep(dep_id: str, name: str, tier: str, price: str) -> dict[str, Any]:
        return {"id": dep_id, "provider": "openai", "base_url": fakes.url(name), "model": dep_id, "api_key": "sk",
                "tier": tier, "jurisdiction": "eu", "price_eur_per_mtok": {"input": price, "output": price}}

    return {"models": [dep("primary", primary, "small", "0.1"), dep("secondary", "secondary", "medium", "1")],
            "resilience": {"max_attempts": 3, "backoff_base_s": 0.01, "breaker_failures": breaker_failures,
                           "timeouts": TIMEOUTS}}


def run(fakes: Fakes, primary: str, breaker: int, args: argparse.Namespace) -> dict[str, Any]:
    gw = GatewayUnderTest(config(fakes, primary, breaker), args.workers)
    try:
        asyncio.run(closed_loop(gw.url, gw.key, min(1000, args.requests), args.concurrency, args.stream_share))
        before = fakes.stats()
        res = asyncio.run(closed_loop(gw.url, gw.key, args.requests, args.concurrency, args.stream_share))
        after = fakes.stats()
    finally:
        gw.stop()
    faults = {k: after[primary].get(k, 0) - before[primary].get(k, 0) for k in after[primary]}
    return {**res.summary(), "primary_actions": faults}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--stream-share", type=float, default=0.25)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    fakes = Fakes(["faulty:0.05,0.02,0.02", "healthy:0,0,0", "secondary:0,0,0"])
    try:
        out = {"machine": f"{platform.node()} {platform.machine()} ({__import__('os').cpu_count()} cores)",
               "args": vars(args) | {"out": str(args.out)}, "timeouts": TIMEOUTS, "started": time.ctime()}
        out["baseline"] = run(fakes, "healthy", 5, args)
        print(json.dumps({"baseline": out["baseline"]}), flush=True)
        out["faults_default_breaker"] = run(fakes, "faulty", 5, args)
        print(json.dumps({"faults_default_breaker": out["faults_default_breaker"]}), flush=True)
        out["faults_breaker_off"] = run(fakes, "faulty", 1_000_000, args)
        print(json.dumps({"faults_breaker_off": out["faults_breaker_off"]}), flush=True)
    finally:
        fakes.stop()
    for k in ("faults_default_breaker", "faults_breaker_off"):
        out[k]["added_p50_ms"] = round(out[k]["p50_ms"] - out["baseline"]["p50_ms"], 2)
        out[k]["added_p99_ms"] = round(out[k]["p99_ms"] - out["baseline"]["p99_ms"], 2)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
