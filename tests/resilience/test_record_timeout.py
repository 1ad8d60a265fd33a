"""A request waits for its record at most ``resilience.record_timeout_s``. Here the embedded
default's SQLite: another process holds the writers' lock file, as a worker frozen in the middle
of its commit would. The requests get a 503 ``store_unavailable`` in the OpenAI format, the
first after the timeout and the next ones at once, and the gateway serves again, every
acknowledged request recorded, as soon as the lock is released."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import httpx

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_worker_frozen_in_its_commit_costs_a_503_after_the_record_timeout(tmp_path: Path) -> None:
    upstream = FakeOpenAI("u").start()
    gw = GatewayProcess(tmp_path, catalog(openai_deployment("u", upstream.url), resilience={"record_timeout_s": 1}))
    lock = None
    try:
        gw.start()
        auth = {"authorization": f"Bearer {gw.key()}"}

        def chat() -> tuple[httpx.Response, float]:
            t0 = time.monotonic()
            r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES},
                           headers=auth, timeout=30)
            return r, time.monotonic() - t0

        assert chat()[0].status_code == 200
        lock = os.open(tmp_path / "aiguillage.db.writer-lock", os.O_RDWR)
        fcntl.flock(lock, fcntl.LOCK_EX)

        r, waited = chat()
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "store_unavailable" and error["type"] == "server_error"
        assert "did not confirm the record within 1 s" in error["message"] and "not acknowledged" in error["message"]
        assert r.headers["retry-after"] == "1"
        assert 0.9 < waited < 4, waited
        r, waited = chat()  # the writer is still waiting for the lock: told at once
        assert r.status_code == 503 and waited < 0.5, (r.status_code, waited)

        fcntl.flock(lock, fcntl.LOCK_UN)
        r, _ = chat()
        assert r.status_code == 200, r.text
        verify = gw.cli("audit", "verify", check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        if lock is not None:
            os.close(lock)
        gw.stop()
        upstream.stop()
