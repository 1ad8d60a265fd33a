"""Audit logging on vs off through the real gateway, side by side in one run.

Same fast fake upstream, same wrk load, same one-deployment catalog; the only difference is
``audit: {enabled: false}``. Both gateways run for the whole benchmark, each in its own
``$AIGUILLAGE_HOME``, and wrk alternates between them: each round measures every concurrency
on both, in turns whose order flips from round to round (on, off, then off, on), so drift of
this noisy VM hits both alike. Prints each cell, then per concurrency the medians over the rounds
and the on/off ratios.

    .venv/bin/python bench/audit_overhead.py [--rounds 4] [--conc 1,64] [--duration 10] [--warmup 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_common import ensure_wrk  # noqa: E402
from gateway_vs_litellm import OUT, measure, start_aiguillage, start_upstream  # noqa: E402

VARIANTS = {"audit-on": None, "audit-off": {"audit": {"enabled": False}}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--conc", type=lambda s: [int(x) for x in s.split(",")], default=[1, 64])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--interface", choices=["rsgi", "asgi"], default="rsgi")
    args = ap.parse_args()
    wrk = ensure_wrk()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="aiguillage-audit-bench-") as tmp:
        work = Path(tmp)
        upstream, url = start_upstream(work)
        servers = {}
        try:
            for name, extra in VARIANTS.items():
                servers[name] = start_aiguillage(work, url, args, name, extra)
            for i in range(args.rounds):
                order = list(servers) if i % 2 == 0 else list(servers)[::-1]
                for c in args.conc:
                    for name in order:
                        proc, base, key = servers[name]
                        for row in measure(name, wrk, base + "/v1/chat/completions",
                                           {"BENCH_KEY": key, "BENCH_MODEL": "auto"}, [c], args.duration,
                                           args.warmup, proc):
                            rows.append({**row, "round": i})
        finally:
            for proc, _base, _key in servers.values():
                proc.stop()
            upstream.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "audit_overhead.json").write_text(json.dumps(rows, indent=2))
    print("| round | variant | conc | req/s | p50 ms | p99 ms | CPU µs/req |\n|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['round']} | {r['stack']} | {r['conc']} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} "
              f"| {r['cpu_us_per_req']:,.0f} |")
    for c in args.conc:
        def med(variant: str, field: str) -> float:
            return statistics.median(r[field] for r in rows if r["conc"] == c and r["stack"] == variant)

        rps_on, rps_off = med("audit-on", "rps"), med("audit-off", "rps")
        cpu_on, cpu_off = med("audit-on", "cpu_us_per_req"), med("audit-off", "cpu_us_per_req")
        print(f"\nc={c}, medians of {args.rounds} rounds: throughput on/off = {rps_on / rps_off:.3f} "
              f"({(1 - rps_on / rps_off) * 100:+.1f}% cost); p50 added by audit = "
              f"{med('audit-on', 'p50_ms') - med('audit-off', 'p50_ms'):+.3f} ms; gateway CPU per request "
              f"{cpu_on:,.0f} vs {cpu_off:,.0f} µs ({(cpu_on / cpu_off - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
