"""Test support: real services, free ports, and the gateway as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ROUTELLM = SHARED / "datasets" / "routellm"
PG_URL = os.environ.get("AIGUILLAGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AIGUILLAGE_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    """Under CI=true a missing service is a failure, never a skip."""
    if _reachable("127.0.0.1", port):
        return
    msg = f"{name} is not reachable on 127.0.0.1:{port}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: tests needing it must not be skipped)")
    pytest.skip(msg)


_WITH_OPEN_FILES = ("import os, resource, sys; "
                    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2]))); "
                    "os.execv(sys.argv[3], sys.argv[3:])")


class GatewayProcess:
    """``aiguillage serve`` in a subprocess, on a free port, with its own $AIGUILLAGE_HOME."""

    def __init__(self, home: Path, config: dict[str, Any] | None, workers: int = 1,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = (),
                 open_files: tuple[int, int] | None = None) -> None:
        self.home = home
        self.open_files = open_files  # (soft, hard) RLIMIT_NOFILE to start the server with
        self.args = args  # more ``serve`` options
        self.port = free_port()
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = home / "config.yaml"
            self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.env = {**os.environ, "AIGUILLAGE_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "serve.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "aiguillage", *args]
        if self.config_path is not None and args[:1] != ("serve",):
            cmd += ["--config", str(self.config_path)]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check, timeout=120)

    def key(self, tenant: str = "acme", admin: bool = False, via_cli: bool = False) -> str:
        """A new key for ``tenant``: through the CLI, or straight through the library (faster)."""
        if via_cli:
            args = ["keys", "create", "--tenant", tenant] + (["--admin"] if admin else [])
            return self.cli(*args).stdout.strip().splitlines()[-1]
        from aiguillage.config import load_settings
        from aiguillage.keys import KeyStore
        from aiguillage.store.db import Database, database_url_for

        old = os.environ.get("AIGUILLAGE_HOME")
        os.environ["AIGUILLAGE_HOME"] = str(self.home)
        try:
            db = Database(database_url_for(load_settings(self.config_path) if self.config_path else None))
            key, _ = KeyStore(db).create(tenant, admin=admin)
            db.dispose()
        finally:
            if old is None:
                os.environ.pop("AIGUILLAGE_HOME", None)
            else:
                os.environ["AIGUILLAGE_HOME"] = old
        return key

    def start(self, timeout: float = 90.0) -> GatewayProcess:
        cmd = [sys.executable, "-m", "aiguillage", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(self.workers), *self.args]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        if self.open_files is not None:
            # Set in the child before it becomes the server (preexec_fn is unsafe with threads).
            cmd = [sys.executable, "-c", _WITH_OPEN_FILES, *map(str, self.open_files), *cmd]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)


def catalog(*deployments: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"models": list(deployments), **top}


def openai_deployment(dep_id: str, url: str, tier: str = "small", jurisdiction: str = "eu",
                      price: tuple[str, str] = ("0.1", "0.3"), **extra: Any) -> dict[str, Any]:
    return {"id": dep_id, "provider": "openai", "base_url": url, "model": f"{dep_id}-upstream", "api_key": "sk-up",
            "tier": tier, "jurisdiction": jurisdiction,
            "price_eur_per_mtok": {"input": price[0], "output": price[1]}, "context_window": 8192, **extra}
