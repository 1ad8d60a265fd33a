"""Shared helpers for the gateway benchmarks: processes, ports, wrk, /proc accounting.

Standard library only, so the same helpers drive aiguillage, LiteLLM (in its own venv) and
the fake upstream. Loopback only; every process started here is stopped by the caller.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENV_PY = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PY) if VENV_PY.exists() else sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> str:
    """wrk from Debian; installed with apt-get when missing (needs root, as on the bench VM)."""
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk not found: installing it with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("could not install wrk: install it with 'apt-get install -y wrk' and rerun")
    return path


def cpu_times(stat: Path) -> tuple[float, float]:
    """(user, system) CPU seconds from a ``/proc/<pid>/stat`` or ``/proc/<pid>/task/<tid>/stat`` file."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


class Proc:
    """A server in its own session (process group), so stopping it stops all its workers."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None = None,
                 log: Path | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.log = log
        out = open(log, "wb") if log else subprocess.DEVNULL
        self.t_start = time.perf_counter()
        self.p = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.p.poll() is not None:
            return
        try:
            os.killpg(self.p.pid, signal.SIGTERM)
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait(10)
        except ProcessLookupError:
            return

    def group_pids(self) -> list[int]:
        """Every live process in this server's session (the master and its workers)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.getsid(int(entry)) == self.p.pid:
                    pids.append(int(entry))
            except (ProcessLookupError, PermissionError):
                continue
        return sorted(pids)

    def cpu_seconds(self) -> float:
        """User+system CPU time of every process in the group (all threads included)."""
        total = 0.0
        for pid in self.group_pids():
            try:
                total += sum(cpu_times(Path(f"/proc/{pid}/stat")))
            except OSError:
                continue
        return total

    def memory_kb(self) -> tuple[int, int]:
        """(sum of RSS, sum of PSS) in KiB over the group; PSS does not double-count shared pages."""
        rss = pss = 0
        for pid in self.group_pids():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            except OSError:
                continue
        return rss, pss


def http(method: str, url: str, body: dict | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, b""


def wait_until(proc: Proc, ok: callable, timeout: float, what: str) -> float:  # type: ignore[valid-type]
    """Poll ``ok()`` every 20 ms; return seconds since the process was started."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited while waiting for {what}:\n{proc.tail()}")
        if ok():
            return time.perf_counter() - proc.t_start
        time.sleep(0.02)
    proc.stop()
    raise RuntimeError(f"{proc.name}: no {what} within {timeout:.0f}s:\n{proc.tail()}")


CHAT_BODY = {"messages": [{"role": "user", "content": "Say hello in French."}], "max_tokens": 16}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers plus socket errors


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unparsable wrk latency '{text}'")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    reqs = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return WrkResult(rps, _ms(pct["50"]), _ms(pct["99"]), reqs, errors)


def run_wrk(wrk: str, url: str, conc: int, seconds: float, env: dict[str, str]) -> WrkResult:
    cmd = [wrk, "-t1", f"-c{conc}", f"-d{seconds:g}s", "--timeout", "10s", "--latency",
           "-s", str(BENCH / "wrk_chat.lua"), url]
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    return parse_wrk(out)
