"""Gateways as real processes in front of scriptable fake upstreams; assertions read the fakes' logs.

The gateways start in parallel (start-up is mostly imports) and are shared per session; each
test resets the fakes' scripts and logs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiguillage.keys import KeyStore
from aiguillage.store.db import Database
from tests.resilience.fakes import FaultyOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

FAST = {"connect": 1, "first_token": 0.8, "idle": 0.8, "total": 10}


class Env:
    def __init__(self, root: Path, name: str, fakes: dict[str, FaultyOpenAI], cfg: dict[str, Any],
                 tenants: tuple[str, ...] = ("acme",)) -> None:
        self.fakes = fakes
        home = root / name
        home.mkdir()
        db_url = f"sqlite:///{home / 'gw.db'}"
        cfg = {**cfg, "database_url": db_url}
        db = Database(db_url)
        store = KeyStore(db)
        self.keys = {t: store.create(t)[0] for t in tenants}
        db.engine.dispose()
        self.gw = GatewayProcess(home, cfg, workers=1)

    def reset(self) -> None:
        for f in self.fakes.values():
            f.reset()
            f.stall_s = 3.0

    def chat(self, tenant: str = "acme", timeout: float = 20, headers: dict[str, str] | None = None,
             **body: Any) -> httpx.Response:
        payload = {"messages": [{"role": "user", "content": "Bonjour"}], **body}
        h = {"authorization": f"Bearer {self.keys[tenant]}", **(headers or {})}
        return httpx.post(self.gw.url + "/v1/chat/completions", json=payload, headers=h, timeout=timeout)

    def stream(self, tenant: str = "acme", **body: Any) -> list[str]:
        """The SSE ``data:`` payloads of a streamed answer."""
        payload = {"messages": [{"role": "user", "content": "Bonjour"}], "stream": True, **body}
        h = {"authorization": f"Bearer {self.keys[tenant]}"}
        with httpx.stream("POST", self.gw.url + "/v1/chat/completions", json=payload, headers=h, timeout=20) as r:
            assert r.status_code == 200, r.read()
            return [ln[6:] for ln in r.iter_lines() if ln.startswith("data: ")]

    def models(self) -> dict[str, str]:
        r = httpx.get(self.gw.url + "/v1/models", headers={"authorization": f"Bearer {next(iter(self.keys.values()))}"})
        return {m["id"]: m.get("status", "") for m in r.json()["data"]}

    def decision(self, r: httpx.Response, tenant: str = "acme") -> dict[str, Any]:
        """The audited decision record of an answer (errors included), from GET /v1/decisions/{id}."""
        did = r.headers["x-aiguillage-decision"]
        got = httpx.get(f"{self.gw.url}/v1/decisions/{did}", headers={"authorization": f"Bearer {self.keys[tenant]}"})
        assert got.status_code == 200, got.text
        return dict(got.json())

    def metrics(self) -> str:
        return httpx.get(self.gw.url + "/metrics").text

    def close(self) -> None:
        self.gw.stop()
        for f in self.fakes.values():
            f.stop()


def fallback_env(root: Path) -> Env:
    """acme may use eu and on_prem only; the cheapest deployment is in the us and must never be called."""
    fakes = {n: FaultyOpenAI(n, answer=f"Answer from {n}.").start() for n in ("us", "primary", "secondary")}
    cfg = catalog(
        openai_deployment("us-cheap", fakes["us"].url, "small", "us", ("0.01", "0.01")),
        openai_deployment("eu-primary", fakes["primary"].url, "small", "eu", ("0.1", "0.3")),
        openai_deployment("onprem-secondary", fakes["secondary"].url, "medium", "on_prem", ("1", "3")),
        tenants={"acme": {"allowed_jurisdictions": ["eu", "on_prem"]}},
        resilience={"max_attempts": 3, "backoff_base_s": 0.01, "breaker_failures": 1000, "timeouts": FAST},
    )
    return Env(root, "fallback", fakes, cfg)


def limits_env(root: Path) -> Env:
    """Small breaker thresholds and a concurrency-limited deployment, each addressed by id."""
    fakes = {n: FaultyOpenAI(n).start() for n in ("flaky", "limited")}
    cfg = catalog(
        openai_deployment("flaky", fakes["flaky"].url, "small", "eu"),
        openai_deployment("limited", fakes["limited"].url, "small", "eu", max_concurrency=1, queue_size=1),
        resilience={"max_attempts": 1, "backoff_base_s": 0.01, "breaker_failures": 3, "breaker_window_s": 30,
                    "breaker_cooldown_s": 1.0, "timeouts": FAST},
    )
    return Env(root, "limits", fakes, cfg)


def shutdown_env(root: Path) -> Env:
    fakes = {"slow": FaultyOpenAI("slow").start()}
    cfg = catalog(openai_deployment("slow", fakes["slow"].url, "small", "eu"),
                  server={"shutdown_grace_s": 10})
    return Env(root, "shutdown", fakes, cfg)


@pytest.fixture(scope="session")
def envs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Env]]:
    root = tmp_path_factory.mktemp("resilience")
    made = {"fallback": fallback_env(root), "limits": limits_env(root), "shutdown": shutdown_env(root)}
    errors: list[BaseException] = []

    def start(e: Env) -> None:
        try:
            e.gw.start()
        except BaseException as exc:  # re-raised below, in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in made.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        yield made
    finally:
        for e in made.values():
            e.close()


@pytest.fixture
def fb(envs: dict[str, Env]) -> Env:
    envs["fallback"].reset()
    return envs["fallback"]


@pytest.fixture
def lim(envs: dict[str, Env]) -> Env:
    envs["limits"].reset()
    return envs["limits"]


@pytest.fixture
def sd(envs: dict[str, Env]) -> Env:
    envs["shutdown"].reset()
    return envs["shutdown"]
