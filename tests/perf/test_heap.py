"""A started worker takes its start-up heap out of the cyclic collector's sight (gc.freeze):
otherwise every full collection walks the imported libraries, the catalog and the routers with
the event loop stopped (a ~100 ms pause here; docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from aiguillage.api.app import App
from aiguillage.config import parse_settings
from aiguillage.store.db import Database
from tests.support import openai_deployment


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    """An App on a fresh SQLite store, with one deployment nobody listens for (never called)."""
    monkeypatch.setenv("AIGUILLAGE_HOME", str(tmp_path))
    settings = parse_settings({"models": [openai_deployment("eu-small", "http://127.0.0.1:9/v1")],
                               "database_url": f"sqlite:///{tmp_path / 'g.db'}"}, "test")
    Database(settings.database_url).migrate()
    return App(settings)


def test_a_started_worker_freezes_its_start_up_heap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(tmp_path, monkeypatch)
    loop = asyncio.new_event_loop()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        app.__rsgi_init__(loop)  # what granian calls in each worker before serving
        assert app.gw.ready
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the modules and the gateway's long-lived objects
    finally:
        app.__rsgi_del__(loop)
        loop.close()
        gc.unfreeze()
    assert not app.gw.ready


def test_the_asgi_lifespan_freezes_it_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _app(tmp_path, monkeypatch)
    sent: list[str] = []

    async def lifespan() -> int:
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        frozen = 0

        async def receive() -> dict:
            return next(messages)

        async def send(msg: dict) -> None:
            nonlocal frozen
            sent.append(msg["type"])
            if msg["type"] == "lifespan.startup.complete":
                frozen = gc.get_freeze_count()

        await app({"type": "lifespan"}, receive, send)
        return frozen

    gc.unfreeze()
    try:
        assert asyncio.run(lifespan()) > 10_000
    finally:
        gc.unfreeze()
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
