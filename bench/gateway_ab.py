"""Interleaved A/B of aiguillage builds: every variant's gateway runs at once, wrk alternates.

    .venv/bin/python bench/gateway_ab.py --variant base=/tmp/base/src --variant new=src --conc 64
    .venv/bin/python bench/gateway_ab.py --variant rsgi=src:rsgi --variant asgi=src:asgi --rounds 6
    .venv/bin/python bench/gateway_ab.py --variant w2=src:rsgi:2 --variant w3=src:rsgi:3

A variant is ``NAME=SRC_DIR[:INTERFACE[:WORKERS]]``: the gateway runs with ``PYTHONPATH=SRC_DIR``
(e.g. a ``git worktree`` of another commit, whose ``src``), over ``INTERFACE`` (rsgi by default)
with ``WORKERS`` worker processes (2 by default, as in bench/gateway_vs_litellm.py). All
variants start before the first measurement and stay up; each round measures every variant once
(``--seconds`` after a 2 s warm-up), the order flipping from round to round, so the machine's
drift (±25% within the hour here) hits all of them alike. Prints every cell, then medians,
with the share of the whole machine's CPU time left idle during each cell.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gateway_common import CHAT_BODY, PYTHON, Proc, ensure_wrk, free_port, http, run_wrk, wait_until
from gateway_vs_litellm import aiguillage_config, start_upstream


def machine_ticks() -> tuple[int, int]:
    """(all, idle + iowait) CPU ticks of the whole machine since boot, from /proc/stat. A
    gateway that leaves cores idle under load is waiting (on a lock, a disk), not computing."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks), ticks[3] + ticks[4]


def start(work: Path, upstream: str, name: str, src: str, interface: str, workers: int) -> tuple[Proc, str, str]:
    home = work / f"{name}-home"
    home.mkdir()
    cfg = work / f"{name}.yaml"
    cfg.write_text(json.dumps(aiguillage_config(upstream)))
    env = {"AIGUILLAGE_HOME": str(home), "PYTHONPATH": str(Path(src).resolve())}
    cmd = [PYTHON, "-m", "aiguillage"]
    key = subprocess.run([*cmd, "keys", "create", "--tenant", "bench", "--config", str(cfg)],
                         env={**os.environ, **env}, capture_output=True, text=True, check=True,
                         timeout=120).stdout.strip().splitlines()[-1]
    port = free_port()
    proc = Proc(name, [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                       "--config", str(cfg), "--interface", interface], env=env, log=work / f"{name}.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(proc, lambda: http("POST", base + "/v1/chat/completions", {"model": "auto", **CHAT_BODY},
                                      {"authorization": f"Bearer {key}"}, timeout=2)[0] == 200,
                   120, "served chat completion")
    except BaseException:
        proc.stop()
        raise
    return proc, base, key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", required=True, help="NAME=SRC_DIR[:INTERFACE[:WORKERS]]")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="aiguillage-ab-"))
    upstream, url = start_upstream(work)
    servers: dict[str, tuple[Proc, str, str]] = {}
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    try:
        for spec in args.variant:
            name, _, rest = spec.partition("=")
            src, _, tail = rest.partition(":")
            interface, _, workers = tail.partition(":")
            servers[name] = start(work, url, name, src, interface or "rsgi", int(workers or 2))
            results[name] = []
        for r in range(args.rounds):
            for name in (list(servers) if r % 2 == 0 else list(servers)[::-1]):
                proc, base, key = servers[name]
                env = {"BENCH_KEY": key, "BENCH_MODEL": "auto"}
                run_wrk(wrk, base + "/v1/chat/completions", args.conc, 2, env)
                cpu0, machine0 = proc.cpu_seconds(), machine_ticks()
                w = run_wrk(wrk, base + "/v1/chat/completions", args.conc, args.seconds, env)
                cpu = (proc.cpu_seconds() - cpu0) / max(1, w.requests) * 1e6
                machine1 = machine_ticks()
                idle = 100 * (machine1[1] - machine0[1]) / max(1, machine1[0] - machine0[0])
                results[name].append((w.rps, cpu, w.p50_ms, w.p99_ms, idle))
                print(f"round {r} {name}: {w.rps:,.0f} req/s, {cpu:.0f} µs CPU/req, p50 {w.p50_ms:.3f} ms, "
                      f"p99 {w.p99_ms:.1f} ms, machine idle {idle:.1f}%", flush=True)
    finally:
        for proc, _base, _key in servers.values():
            proc.stop()
        upstream.stop()
    names = list(results)
    if len(names) == 2 and results[names[0]] and len(results[names[0]]) == len(results[names[1]]):
        # Each round measured both within seconds of each other: their ratio cancels the drift
        # that moves a variant's own figures by ±25% from round to round here.
        a, b = (results[n] for n in names)
        ratios = [rb[0] / ra[0] for ra, rb in zip(a, b)]
        won = sum(r > 1 for r in ratios)
        print(f"\n{names[1]} / {names[0]} req/s, per round: {', '.join(f'{r:.3f}' for r in ratios)}; "
              f"median {statistics.median(ratios):.3f}, {names[1]} ahead in {won} of {len(ratios)}")
    print(f"\nc={args.conc}, medians of {args.rounds} rounds:")
    for name, rows in results.items():
        med = [statistics.median(row[i] for row in rows) for i in range(5)]
        print(f"  {name}: {med[0]:,.0f} req/s, {med[1]:.0f} µs CPU/req, p50 {med[2]:.3f} ms, p99 {med[3]:.1f} ms, "
              f"machine idle {med[4]:.1f}%")


if __name__ == "__main__":
    sys.exit(main())
