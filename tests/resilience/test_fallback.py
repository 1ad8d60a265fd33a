"""Each upstream failure mode, with the fakes' request logs proving which deployments were called.

acme may use eu and on_prem only; ``us-cheap`` is the cheapest deployment, so it would be the
router's first choice if the policy ever leaked into the fallback chain. It must see nothing.
"""

from __future__ import annotations

import time

import orjson
import pytest

from tests.resilience.conftest import Env


def called(env: Env) -> dict[str, int]:
    return {name: len(f.requests) for name, f in env.fakes.items()}


@pytest.mark.parametrize("fault", ["500", "503", "reset", "stall", "429"])
def test_retryable_fault_on_primary_fails_over_to_secondary(fb: Env, fault: str) -> None:
    fb.fakes["primary"].plan(fault)
    r = fb.chat()
    assert r.status_code == 200, r.text
    assert r.headers["x-aiguillage-model"] == "onprem-secondary"
    assert r.json()["choices"][0]["message"]["content"] == "Answer from secondary."
    assert called(fb) == {"us": 0, "primary": 1, "secondary": 1}


@pytest.mark.parametrize("fault", ["500", "reset", "stall"])
def test_stream_fails_over_transparently_before_the_first_chunk(fb: Env, fault: str) -> None:
    fb.fakes["primary"].plan(fault)
    events = fb.stream()
    assert events[-1] == "[DONE]"
    text = "".join((orjson.loads(e)["choices"] or [{}])[0].get("delta", {}).get("content") or ""
                   for e in events[:-1])
    assert text == "Answer from secondary."
    assert not any("error" in orjson.loads(e) for e in events[:-1])
    assert called(fb) == {"us": 0, "primary": 1, "secondary": 1}


def test_request_caused_4xx_is_not_retried(fb: Env) -> None:
    fb.fakes["primary"].plan("400")
    r = fb.chat()
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "upstream_rejected_request"
    assert called(fb) == {"us": 0, "primary": 1, "secondary": 0}


def test_forbidden_jurisdiction_is_never_a_fallback_even_when_all_eligible_fail(fb: Env) -> None:
    fb.fakes["primary"].default = "500"
    fb.fakes["secondary"].default = "reset"
    r = fb.chat()
    assert r.status_code == 502, r.text
    attempts = r.json()["error"]["details"]["attempts"]
    assert [a["deployment"] for a in attempts] == ["eu-primary", "onprem-secondary", "eu-primary"]
    assert called(fb) == {"us": 0, "primary": 2, "secondary": 1}
    # And streaming, under the same faults.
    r2 = fb.chat(stream=True)
    assert r2.status_code == 502, r2.text
    assert fb.fakes["us"].requests == []


def test_retry_round_after_backoff_recovers(fb: Env) -> None:
    fb.fakes["primary"].plan("500", "ok")
    fb.fakes["secondary"].plan("503")
    r = fb.chat()
    assert r.status_code == 200, r.text
    assert r.headers["x-aiguillage-model"] == "eu-primary"
    assert called(fb) == {"us": 0, "primary": 2, "secondary": 1}


def test_deadline_header_bounds_the_whole_request(fb: Env) -> None:
    fb.fakes["primary"].latency_s = 2.0
    t = time.monotonic()
    r = fb.chat(headers={"x-aiguillage-deadline-ms": "300"})
    took = time.monotonic() - t
    assert r.status_code == 504, r.text
    assert took < 1.5
    assert called(fb) == {"us": 0, "primary": 1, "secondary": 0}


def test_failure_after_first_chunk_ends_stream_with_error_event(fb: Env) -> None:
    fb.fakes["primary"].plan("midstream")
    events = fb.stream()
    assert events[-1] == "[DONE]"
    err = orjson.loads(events[-2])["error"]
    assert err["type"] == "upstream_error" and err["message"]
    first = orjson.loads(events[0])
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert called(fb) == {"us": 0, "primary": 1, "secondary": 0}  # no fail-over once the client saw data


def test_idle_timeout_mid_stream_ends_with_error_event(fb: Env) -> None:
    fb.fakes["primary"].plan("midstall")
    t = time.monotonic()
    events = fb.stream()
    took = time.monotonic() - t
    assert took < 2.5  # idle is 0.8 s; the fake would stay silent for 3 s
    assert events[-1] == "[DONE]"
    contents = [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events[:-2]]
    assert "Answer" in contents
    err = orjson.loads(events[-2])["error"]
    assert err["code"] == "upstream_timeout"
    assert "mid-stream" in err["message"]
    assert called(fb) == {"us": 0, "primary": 1, "secondary": 0}


def test_fallback_is_in_the_audited_decision_record(fb: Env) -> None:
    fb.fakes["primary"].plan("reset")
    r = fb.chat()
    assert r.status_code == 200, r.text
    rec = fb.decision(r)
    assert [(a["deployment"], a["outcome"]) for a in rec["attempts"]] == [("eu-primary", "error"),
                                                                          ("onprem-secondary", "ok")]
    assert rec["attempts"][0]["error"].startswith("upstream_unreachable")
    assert rec["chosen"]["id"] == "onprem-secondary"
    assert {c["id"]: c["eligible"] for c in rec["candidates"]}["us-cheap"] is False
