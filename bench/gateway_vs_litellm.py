"""Throughput and gateway-added latency: aiguillage vs the LiteLLM proxy, same upstream, same load.

    .venv/bin/python bench/gateway_vs_litellm.py            # full run (~3 min + LiteLLM install once)
    .venv/bin/python bench/gateway_vs_litellm.py --skip-litellm --duration 5

One run: start the fake upstream (bench/fake_upstream.py), measure it directly with wrk at each
concurrency, then aiguillage (2 workers, one OpenAI-compatible deployment pointing at the fake,
a real API key, model "auto" so routing runs, SQLite group-commit record per request), then
the floor: a bare proxy on the same server and upstream client with none of the gateway's work
(bench/bare_proxy.py), then LiteLLM 1.106.2 (from a throwaway venv in bench/.litellm-venv, ``--num_workers 2``). Each cell
is ``wrk -t1 -cN`` for --duration seconds after a --warmup run. Prints a Markdown table; the
raw numbers go to bench/out/gateway_vs_litellm.json.

The VM has 2 cores and nothing is pinned: wrk (one thread), the fake upstream (one process) and
the proxy's 2 workers share both cores, as they would on a small host. The table shows the
proxy's own CPU per request (from /proc) so the share left to wrk and the fake is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from gateway_common import (BENCH, CHAT_BODY, PYTHON, Proc, WrkResult, ensure_wrk, free_port, http, run_wrk,
                            wait_until)

LITELLM_VERSION = "1.106.2"
LITELLM_VENV = BENCH / ".litellm-venv"
# As LiteLLM's docs recommend for production. TIMEOUT_WORKER_HEALTHCHECK only matters at start-up: uvicorn's
# default 5 s ping kills (and respawns, forever) a worker whose imports take longer, as they can on a busy VM.
LITELLM_ENV = {"LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "TIMEOUT_WORKER_HEALTHCHECK": "120"}
OUT = BENCH / "out"


def start_upstream(work: Path) -> tuple[Proc, str]:
    port = free_port()
    p = Proc("fake-upstream", [PYTHON, str(BENCH / "fake_upstream.py"), "--port", str(port)],
             log=work / "upstream.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(p, lambda: http("GET", url + "/health", timeout=1)[0] == 200, 20, "health answer")
    return p, url


def measure(name: str, wrk: str, url: str, env: dict[str, str], concs: list[int], seconds: float,
            warmup: float, proc: Proc | None) -> list[dict]:
    rows = []
    for c in concs:
        run_wrk(wrk, url, c, warmup, env)
        cpu0 = proc.cpu_seconds() if proc else 0.0
        r: WrkResult = run_wrk(wrk, url, c, seconds, env)
        cpu = (proc.cpu_seconds() - cpu0) if proc else 0.0
        row = {"stack": name, "conc": c, **asdict(r),
               "cpu_us_per_req": round(cpu / r.requests * 1e6, 1) if proc and r.requests else None}
        print(f"  {name:10s} c={c:<3d} {r.rps:9.1f} req/s  p50 {r.p50_ms:7.3f} ms  p99 {r.p99_ms:7.3f} ms"
              f"  errors {r.errors}" + (f"  cpu {row['cpu_us_per_req']} us/req" if proc else ""), file=sys.stderr)
        if r.errors:
            raise RuntimeError(f"{name} c={c}: {r.errors} failed requests out of {r.requests}")
        rows.append(row)
    return rows


# -- aiguillage ---------------------------------------------------------------------------------
def aiguillage_config(upstream: str) -> dict:
    return {"models": [{
        "id": "bench-model", "provider": "openai", "base_url": upstream + "/v1", "model": "bench-upstream",
        "api_key": "sk-bench", "tier": "small", "jurisdiction": "eu",
        "price_eur_per_mtok": {"input": "0.2", "output": "0.6"}, "context_window": 8192,
    }]}


def start_aiguillage(work: Path, upstream: str, args: argparse.Namespace, name: str = "aiguillage",
                     extra: dict | None = None) -> tuple[Proc, str, str]:
    """A running aiguillage (``extra`` is merged into its config): (process, base URL, API key).
    The caller stops the process."""
    home = work / f"{name}-home"
    home.mkdir()
    cfg = work / f"{name}.yaml"
    cfg.write_text(json.dumps({**aiguillage_config(upstream), **(extra or {})}))  # JSON is YAML
    env = {"AIGUILLAGE_HOME": str(home)}
    cli = [str(Path(PYTHON).parent / "aiguillage")]
    key = subprocess.run([*cli, "keys", "create", "--tenant", "bench", "--config", str(cfg)],
                         env={**os.environ, **env}, capture_output=True, text=True, check=True,
                         timeout=120).stdout.strip().splitlines()[-1]
    port = free_port()
    proc = Proc(name, [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
                       str(args.workers), "--config", str(cfg), "--interface", args.interface],
                env=env, log=work / f"{name}.log")
    base = f"http://127.0.0.1:{port}"
    try:
        auth = {"authorization": f"Bearer {key}"}
        wait_until(proc, lambda: http("POST", base + "/v1/chat/completions", {"model": "auto", **CHAT_BODY},
                                      auth, timeout=2)[0] == 200, 120, "served chat completion")
        status, body = http("POST", base + "/v1/chat/completions", {"model": "auto", **CHAT_BODY}, auth)
        assert status == 200 and b"Bonjour" in body, (status, body[:300])
    except BaseException:
        proc.stop()
        raise
    return proc, base, key


def run_aiguillage(work: Path, upstream: str, wrk: str, args: argparse.Namespace, name: str = "aiguillage",
                   extra: dict | None = None) -> list[dict]:
    """One aiguillage variant (``extra`` is merged into its config) measured under the same load."""
    proc, base, key = start_aiguillage(work, upstream, args, name, extra)
    try:
        if args.profile:
            print(f"  aiguillage pids (for py-spy): {proc.group_pids()}", file=sys.stderr)
        return measure(name, wrk, base + "/v1/chat/completions",
                       {"BENCH_KEY": key, "BENCH_MODEL": "auto"}, args.conc, args.duration, args.warmup, proc)
    finally:
        proc.stop()


# -- the floor: a proxy that does none of the gateway's work ---------------------------------------
def run_bare(work: Path, upstream: str, wrk: str, args: argparse.Namespace) -> list[dict]:
    port = free_port()
    proc = Proc("bare", [PYTHON, str(BENCH / "bare_proxy.py"), "--port", str(port), "--upstream", upstream,
                         "--workers", str(args.workers), "--interface", args.interface],
                env={"PYTHONPATH": str(BENCH)},
                log=work / "bare.log", cwd=BENCH)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(proc, lambda: http("POST", base + "/v1/chat/completions", {"model": "bench-upstream", **CHAT_BODY},
                                      timeout=2)[0] == 200, 60, "proxied answer")
        return measure("bare", wrk, base + "/v1/chat/completions", {"BENCH_MODEL": "bench-upstream"},
                       args.conc, args.duration, args.warmup, proc)
    finally:
        proc.stop()


# -- LiteLLM ------------------------------------------------------------------------------------
def ensure_litellm() -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    marker = LITELLM_VENV / f".installed-{LITELLM_VERSION}"
    if exe.exists() and marker.exists():
        return exe
    print(f"creating {LITELLM_VENV} with litellm[proxy]=={LITELLM_VERSION} (once; cached)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"],
                   check=True, timeout=1800)
    marker.touch()
    return exe


def run_litellm(work: Path, upstream: str, wrk: str, args: argparse.Namespace) -> list[dict]:
    exe = ensure_litellm()
    cfg = work / "litellm.yaml"
    cfg.write_text(json.dumps({"model_list": [{
        "model_name": "bench-model",
        "litellm_params": {"model": "openai/bench-upstream", "api_base": upstream + "/v1", "api_key": "sk-bench"},
    }]}))
    port = free_port()
    # LiteLLM refuses to start without a master key; with one (and no database) it checks that key.
    key = "sk-bench-" + secrets.token_hex(16)
    proc = Proc("litellm", [str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port),
                            "--num_workers", str(args.workers)], env={**LITELLM_ENV, "LITELLM_MASTER_KEY": key},
                log=work / "litellm.log", cwd=work)
    base = f"http://127.0.0.1:{port}"
    auth = {"authorization": f"Bearer {key}"}
    try:
        wait_until(proc, lambda: http("POST", base + "/v1/chat/completions", {"model": "bench-model", **CHAT_BODY},
                                      auth, timeout=5)[0] == 200, 300, "served chat completion")
        return measure("litellm", wrk, base + "/v1/chat/completions", {"BENCH_MODEL": "bench-model", "BENCH_KEY": key},
                       args.conc, args.duration, args.warmup, proc)
    finally:
        proc.stop()


# -- report -------------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    direct = {r["conc"]: r for r in rows if r["stack"] == "direct"}
    lines = ["| stack | conc | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | proxy CPU µs/req |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        d = direct.get(r["conc"])
        added = (f"{r['p50_ms'] - d['p50_ms']:.3f} | {r['p99_ms'] - d['p99_ms']:.3f}"
                 if d and r["stack"] != "direct" else "– | –")
        cpu = r["cpu_us_per_req"] if r["cpu_us_per_req"] is not None else "–"
        lines.append(f"| {r['stack']} | {r['conc']} | {r['rps']:,.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
                     f"{added} | {cpu} |")
    by = {s: {r["conc"]: r for r in rows if r["stack"] == s} for s in ("aiguillage", "bare", "litellm")}
    ag, bare, ll = by["aiguillage"], by["bare"], by["litellm"]
    for c in sorted(set(ag) & set(ll)):
        lines.append(f"\nThroughput ratio aiguillage / LiteLLM at c={c}: **{ag[c]['rps'] / ll[c]['rps']:.1f}×**"
                     + (f" (bare proxy / LiteLLM: {bare[c]['rps'] / ll[c]['rps']:.1f}×)" if c in bare else ""))
    for c in sorted(set(ag) & set(bare)):
        lines.append(f"\naiguillage / bare proxy at c={c}: throughput {ag[c]['rps'] / bare[c]['rps']:.2f}×, "
                     f"CPU per request {ag[c]['cpu_us_per_req'] / bare[c]['cpu_us_per_req']:.2f}×")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description="aiguillage vs LiteLLM: req/s and added latency")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per measured cell")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up before each cell")
    ap.add_argument("--conc", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--interface", choices=["rsgi", "asgi"], default="rsgi",
                    help="the server interface of aiguillage and of the bare proxy")
    ap.add_argument("--skip-litellm", action="store_true")
    ap.add_argument("--skip-bare", action="store_true", help="leave out the bare-proxy floor (bench/bare_proxy.py)")
    ap.add_argument("--profile", action="store_true", help="print the gateway's pids, for py-spy")
    args = ap.parse_args()
    wrk = ensure_wrk()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="aiguillage-bench-") as tmp:
        work = Path(tmp)
        upstream, url = start_upstream(work)
        try:
            rows += measure("direct", wrk, url + "/v1/chat/completions", {"BENCH_MODEL": "bench-upstream"},
                            args.conc, args.duration, args.warmup, None)
            rows += run_aiguillage(work, url, wrk, args)
            if not args.skip_bare:
                rows += run_bare(work, url, wrk, args)
            if not args.skip_litellm:
                rows += run_litellm(work, url, wrk, args)
        finally:
            upstream.stop()
    OUT.mkdir(exist_ok=True)
    (OUT / "gateway_vs_litellm.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
