"""Audit logging on vs off through the real gateway, side by side in one run.

Same fast fake upstream, same wrk load, same one-deployment catalog; the only difference is
``audit: {enabled: false}``. Each variant is measured twice, interleaved (on, off, on, off), so
drift of this noisy VM hits both. Prints req/s, p50/p99 and the on/off ratios at each concurrency.

    .venv/bin/python bench/audit_overhead.py [--conc 1,64] [--duration 10] [--warmup 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_common import ensure_wrk  # noqa: E402
from gateway_vs_litellm import OUT, run_aiguillage, start_upstream  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--conc", type=lambda s: [int(x) for x in s.split(",")], default=[1, 64])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--interface", choices=["rsgi", "asgi"], default="rsgi")
    args = ap.parse_args()
    args.profile = False
    wrk = ensure_wrk()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="aiguillage-audit-bench-") as tmp:
        work = Path(tmp)
        upstream, url = start_upstream(work)
        try:
            for i in range(args.rounds):
                rows += run_aiguillage(work, url, wrk, args, name=f"audit-on-{i}")
                rows += run_aiguillage(work, url, wrk, args, name=f"audit-off-{i}", extra={"audit": {"enabled": False}})
        finally:
            upstream.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "audit_overhead.json").write_text(json.dumps(rows, indent=2))
    print("| variant | conc | req/s | p50 ms | p99 ms | CPU µs/req |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['stack']} | {r['conc']} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} "
              f"| {r['cpu_us_per_req']:,.0f} |")
    for c in args.conc:
        on = [r for r in rows if r["conc"] == c and r["stack"].startswith("audit-on")]
        off = [r for r in rows if r["conc"] == c and r["stack"].startswith("audit-off")]
        rps_on, rps_off = sum(r["rps"] for r in on) / len(on), sum(r["rps"] for r in off) / len(off)
        p50_on, p50_off = sum(r["p50_ms"] for r in on) / len(on), sum(r["p50_ms"] for r in off) / len(off)
        cpu_on = sum(r["cpu_us_per_req"] for r in on) / len(on)
        cpu_off = sum(r["cpu_us_per_req"] for r in off) / len(off)
        print(f"\nc={c}: throughput on/off = {rps_on / rps_off:.3f} ({(1 - rps_on / rps_off) * 100:+.1f}% cost); "
              f"p50 added by audit = {p50_on - p50_off:+.3f} ms; gateway CPU per request "
              f"{cpu_on:,.0f} vs {cpu_off:,.0f} µs ({(cpu_on / cpu_off - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
