"""Graceful shutdown: SIGTERM while a slow request is in flight."""

from __future__ import annotations

import signal
import socket
import threading
import time

import httpx
import pytest

from tests.resilience.conftest import Env


def test_sigterm_drains_in_flight_refuses_new_and_exits(sd: Env) -> None:
    sd.fakes["slow"].latency_s = 1.5
    result: dict[str, httpx.Response] = {}
    t = threading.Thread(target=lambda: result.setdefault("r", sd.chat(model="slow")))
    t.start()
    deadline = time.monotonic() + 5
    while not sd.fakes["slow"].requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sd.fakes["slow"].requests, "the slow request never reached the upstream"
    assert sd.gw.proc is not None
    sd.gw.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sd.gw.port), timeout=1).close()
    t.join(10)
    r = result["r"]
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]
    assert sd.gw.proc.wait(15) == 0
