"""Circuit breaker transitions (closed → open → half-open → closed) and the concurrency limit."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from tests.resilience.conftest import Env


def gauge(env: Env, name: str, dep: str) -> float:
    m = re.search(rf'^{name}\{{deployment="{dep}"(?:,[^}}]*)?\}} ([0-9.e+-]+)$', env.metrics(), re.M)
    assert m is not None, f"{name} for {dep} missing from /metrics"
    return float(m.group(1))


def transitions(env: Env, dep: str, to: str) -> float:
    m = re.search(rf'^aiguillage_breaker_transitions_total\{{deployment="{dep}",to="{to}"\}} ([0-9.]+)$',
                  env.metrics(), re.M)
    return float(m.group(1)) if m else 0.0


def test_breaker_opens_fails_fast_half_opens_and_closes(lim: Env) -> None:
    flaky = lim.fakes["flaky"]
    flaky.default = "500"
    for _ in range(3):
        failed = lim.chat(model="flaky")
        assert failed.status_code == 502
    assert len(flaky.requests) == 3
    assert "breaker flaky: closed -> open (3 failures within 30s)" in lim.decision(failed)["notes"]
    assert lim.models()["flaky"] == "unavailable"
    assert gauge(lim, "aiguillage_breaker_open", "flaky") == 1.0

    # Open: answered at once with 503 + Retry-After, the upstream is not called.
    r = lim.chat(model="flaky")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "deployments_unavailable"
    assert 1 <= int(r.headers["retry-after"]) <= 2
    assert len(flaky.requests) == 3
    fast = lim.decision(r)
    assert fast["notes"] == ["skipped flaky: circuit breaker open"] and fast["attempts"] == []

    # Half-open after the cool-down; a failed probe opens it again.
    time.sleep(1.1)
    assert lim.models()["flaky"] == "degraded"
    failed_probe = lim.chat(model="flaky")
    assert failed_probe.status_code == 502
    assert len(flaky.requests) == 4
    assert lim.decision(failed_probe)["notes"] == ["breaker flaky: open -> half_open (cool-down of 1s over)",
                                                   "breaker flaky: half_open -> open (half-open probe failed)"]
    assert lim.models()["flaky"] == "unavailable"
    assert lim.chat(model="flaky").status_code == 503
    assert len(flaky.requests) == 4

    # Half-open again; a good probe closes it.
    time.sleep(1.1)
    flaky.default = "ok"
    probe = lim.chat(model="flaky")
    assert probe.status_code == 200
    assert len(flaky.requests) == 5
    assert lim.decision(probe)["notes"] == ["breaker flaky: open -> half_open (cool-down of 1s over)",
                                            "breaker flaky: half_open -> closed (half-open probe succeeded)"]
    assert lim.models()["flaky"] == "available"
    assert gauge(lim, "aiguillage_breaker_open", "flaky") == 0.0
    assert transitions(lim, "flaky", "open") == 2
    assert transitions(lim, "flaky", "half_open") == 2
    assert transitions(lim, "flaky", "closed") == 1
    assert lim.chat(model="flaky").status_code == 200


def test_request_caused_4xx_does_not_trip_the_breaker(lim: Env) -> None:
    flaky = lim.fakes["flaky"]
    flaky.default = "400"
    for _ in range(4):
        assert lim.chat(model="flaky").status_code == 400
    assert len(flaky.requests) == 4
    assert lim.models()["flaky"] == "available"


def test_concurrency_limit_queues_then_refuses_with_503_and_retry_after(lim: Env) -> None:
    limited = lim.fakes["limited"]
    limited.latency_s = 0.6  # under the 0.8 s first-token timeout
    with ThreadPoolExecutor(4) as pool:
        futures = []
        for _ in range(4):
            futures.append(pool.submit(lim.chat, model="limited"))
            time.sleep(0.05)  # arrive in order: one runs, one queues, two are refused
        results = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 200, 503, 503], [r.text for r in results]
    for r in results:
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "overloaded"
            assert int(r.headers["retry-after"]) >= 1
    # The upstream never saw more than one request at a time: the second began after the first ended.
    assert len(limited.requests) == 2
    assert limited.requests[1]["t"] - limited.requests[0]["t"] >= 0.55


def test_deadline_while_queued_is_504_and_the_request_never_reaches_the_upstream(lim: Env) -> None:
    limited = lim.fakes["limited"]
    limited.latency_s = 0.6
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(lim.chat, model="limited")
        time.sleep(0.1)
        queued = pool.submit(lim.chat, model="limited", headers={"x-aiguillage-deadline-ms": "200"})
        r = queued.result()
        assert first.result().status_code == 200
    assert r.status_code == 504, r.text
    assert r.json()["error"]["code"] == "upstream_timeout"
    assert len(limited.requests) == 1
