"""Profile one aiguillage worker under load with py-spy, and summarise where its time goes.

    .venv/bin/python bench/gateway_profile.py                  # c=64, 15 s of samples
    .venv/bin/python bench/gateway_profile.py --conc 1 --seconds 10
    .venv/bin/python bench/gateway_profile.py --threads [--bare [--busy-us N]]   # CPU of each thread

Same set-up as bench/gateway_vs_litellm.py (fake upstream, 2 workers, real key, model "auto").
While wrk loads the gateway, ``py-spy record`` samples one worker; the folded stacks go to
bench/out/profile-c<N>.txt (flamegraph.pl or speedscope render them), and the main thread's top
functions (self and inclusive share of samples) are printed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from gateway_common import BENCH, CHAT_BODY, PYTHON, Proc, cpu_times, ensure_wrk, free_port, http, run_wrk, wait_until
from gateway_vs_litellm import aiguillage_config, start_upstream

OUT = BENCH / "out"


def summarise(folded: Path, top: int) -> str:
    self_n: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, n_text = line.rpartition(" ")
        frames = stack.split(";")
        if os.environ.get("PROFILE_THREAD", "MainThread") not in frames[0]:
            continue  # the writer and key-refresh threads mostly wait; their frames stay in the file
        n = int(n_text)
        total += n
        self_n[frames[-1]] += n
        for frame in set(frames[1:]):
            incl[frame] += n
    lines = [f"main-thread samples: {total}", "", "self %  function"]
    lines += [f"{n * 100 / total:6.1f}  {f}" for f, n in self_n.most_common(top)]
    lines += ["", "incl %  function (aiguillage frames)"]
    lines += [f"{n * 100 / total:6.1f}  {f}" for f, n in incl.most_common() if "aiguillage/" in f][:top]
    return "\n".join(lines)


def python_thread_names(pids: list[int]) -> dict[str, str]:
    """Thread id -> Python thread name, from ``py-spy dump``. Python does not name its threads for
    the OS, so in /proc they carry the process's name, like the server's native threads."""
    pyspy = Path(PYTHON).parent / "py-spy"
    names: dict[str, str] = {}
    for pid in pids:
        dump = subprocess.run([str(pyspy), "dump", "-p", str(pid)], capture_output=True, text=True, timeout=60).stdout
        names.update(re.findall(r'^Thread (\d+) \([^)]*\): "(.*)"$', dump, flags=re.MULTILINE))
    return names


def threads_cpu(pids: list[int], names: dict[str, str] | None = None) -> dict[str, float]:
    """CPU seconds of every thread of ``pids``, summed by thread name, user and system apart.
    ``names``: Python's names for its threads (``python_thread_names``); the rest are native."""
    out: collections.Counter[str] = collections.Counter()
    names = names or {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                if task.name == str(pid):
                    name = "event loop (main thread)"
                elif task.name in names:
                    name = f"{names[task.name]} (Python thread)"
                else:
                    name = f"{(task / 'comm').read_text().strip()} (native thread)"
                user, system = cpu_times(task / "stat")
            except FileNotFoundError:
                continue  # a thread that ended meanwhile
            out[name + " [user]"] += user
            out[name + " [system]"] += system
    return out


def thread_table(before: dict[str, float], after: dict[str, float], r, conc: int) -> str:  # type: ignore[no-untyped-def]
    lines = [f"c={conc} load: {r.rps:.0f} req/s over {r.requests} requests", "", "µs of CPU per request  thread"]
    total = 0.0
    for name in sorted(after, key=lambda n: before.get(n, 0.0) - after[n]):
        us = (after[name] - before.get(name, 0.0)) / r.requests * 1e6
        total += us
        if us >= 0.5:
            lines.append(f"{us:10.1f}  {name}")
    lines.append(f"{total:10.1f}  all threads")
    return "\n".join(lines)


def bare_threads(wrk: str, args: argparse.Namespace) -> None:
    """The per-thread table for the bare proxy: what the server's and the client's threads cost
    when the event loop has almost nothing to do, beside aiguillage's (``--threads``)."""
    with tempfile.TemporaryDirectory(prefix="aiguillage-profile-") as tmp:
        work = Path(tmp)
        upstream, url = start_upstream(work)
        port = free_port()
        proc = Proc("bare", [PYTHON, str(BENCH / "bare_proxy.py"), "--port", str(port), "--upstream", url,
                             "--workers", "2"], env={"PYTHONPATH": str(BENCH), "BARE_PROXY_BUSY_US": str(args.busy_us)},
                    log=work / "bare.log", cwd=BENCH)
        base = f"http://127.0.0.1:{port}/v1/chat/completions"
        try:
            wait_until(proc, lambda: http("POST", base, {"model": "bench-upstream", **CHAT_BODY}, timeout=2)[0] == 200,
                       60, "proxied answer")
            load_env = {"BENCH_MODEL": "bench-upstream"}
            run_wrk(wrk, base, args.conc, 3, load_env)  # warm-up
            pids = [p for p in proc.group_pids() if p != proc.pid]
            names = python_thread_names(pids)
            before = threads_cpu(pids, names)
            r = run_wrk(wrk, base, args.conc, args.seconds, load_env)
            print(thread_table(before, threads_cpu(pids, names), r, args.conc))
        finally:
            proc.stop()
            upstream.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description="py-spy profile of an aiguillage worker under wrk load")
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--gil", action="store_true",
                    help="sample only the thread holding the GIL: Python's own CPU, no waits")
    ap.add_argument("--threads", action="store_true",
                    help="no py-spy: CPU per request of each thread of every worker, from /proc")
    ap.add_argument("--bare", action="store_true",
                    help="with --threads: the same table for the bare proxy (bench/bare_proxy.py), the floor")
    ap.add_argument("--busy-us", type=float, default=0.0,
                    help="with --bare: pure-Python CPU its event loop spends per request, like a gateway's work")
    args = ap.parse_args()
    wrk = ensure_wrk()
    if args.bare:
        if not args.threads:
            raise SystemExit("--bare goes with --threads")
        bare_threads(wrk, args)
        return
    pyspy = Path(PYTHON).parent / "py-spy"
    if not pyspy.exists():
        raise SystemExit("py-spy is missing: pip install -e '.[bench]' (it is in the bench extra)")
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiguillage-profile-") as tmp:
        work = Path(tmp)
        upstream, url = start_upstream(work)
        home = work / "home"
        home.mkdir()
        cfg = work / "aiguillage.yaml"
        cfg.write_text(json.dumps(aiguillage_config(url)))
        env = {"AIGUILLAGE_HOME": str(home)}
        cli = str(Path(PYTHON).parent / "aiguillage")
        key = subprocess.run([cli, "keys", "create", "--tenant", "bench", "--config", str(cfg)],
                             env={**os.environ, **env}, capture_output=True, text=True, check=True,
                             timeout=120).stdout.strip().splitlines()[-1]
        port = free_port()
        gw = Proc("aiguillage", [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
                                 "--config", str(cfg)], env=env, log=work / "gw.log")
        base = f"http://127.0.0.1:{port}/v1/chat/completions"
        try:
            auth = {"authorization": f"Bearer {key}"}
            wait_until(gw, lambda: http("POST", base, {"model": "auto", **CHAT_BODY}, auth, timeout=2)[0] == 200,
                       120, "served chat completion")
            worker = max(p for p in gw.group_pids() if p != gw.pid)  # a worker, not the master
            load_env = {"BENCH_KEY": key, "BENCH_MODEL": "auto"}
            run_wrk(wrk, base, args.conc, 3, load_env)  # warm-up
            if args.threads:
                pids = [p for p in gw.group_pids() if p != gw.pid]
                names = python_thread_names(pids)
                before = threads_cpu(pids, names)
                r = run_wrk(wrk, base, args.conc, args.seconds, load_env)
                print(thread_table(before, threads_cpu(pids, names), r, args.conc))
                return
            result: dict = {}
            load = threading.Thread(target=lambda: result.update(
                r=run_wrk(wrk, base, args.conc, args.seconds + 4, load_env)))
            load.start()
            folded = OUT / f"profile-c{args.conc}.txt"
            subprocess.run([str(pyspy), "record", "-p", str(worker), "-d", str(args.seconds), "-r", str(args.rate),
                            "--nonblocking", "-t", "-f", "raw", "-o", str(folded), *(["--gil"] if args.gil else [])], check=True,
                           capture_output=True, timeout=args.seconds + 60)
            load.join()
        finally:
            gw.stop()
            upstream.stop()
    r = result.get("r")
    print(f"load during the profile: c={args.conc}, {r.rps:.0f} req/s, p50 {r.p50_ms:.2f} ms" if r else "",
          file=sys.stderr)
    print(summarise(folded, args.top))


if __name__ == "__main__":
    main()
