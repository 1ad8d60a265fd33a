"""Every kind of bad input gets the right status and an OpenAI-format error, and the server
keeps serving: each case is followed by a good request."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.gateway.conftest import ThreeTier

GOOD = {"messages": [{"role": "user", "content": "hello"}]}


def post(tt: ThreeTier, body: bytes | dict, key: str | None = "default", **headers: str) -> httpx.Response:
    h = {"content-type": "application/json", **headers}
    if key is not None:
        h["authorization"] = f"Bearer {tt.key if key == 'default' else key}"
    kw = {"json": body} if isinstance(body, dict) else {"content": body}
    return httpx.post(tt.gw.url + "/v1/chat/completions", headers=h, timeout=20, **kw)


def assert_error(r: httpx.Response, status: int, etype: str, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    assert err["type"] == etype
    if code is not None:
        assert err["code"] == code
    assert err["message"]
    return err


def assert_still_serving(tt: ThreeTier) -> None:
    r = post(tt, GOOD)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        ({"model": "auto"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 2.5}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}, "tools[0]"),
        ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}}, "response_format"),
        ({"messages": [{"role": "user", "content": "x"}], "model": 42}, "model"),
    ],
)
def test_malformed_and_ill_typed_requests_are_400(tt: ThreeTier, body: bytes | dict, param: str | None) -> None:
    err = assert_error(post(tt, body), 400, "invalid_request_error")
    assert err["param"] == param
    assert_still_serving(tt)
    assert all(len(f.requests) <= 1 for f in tt.fakes)  # nothing bad was forwarded


def test_unknown_model_is_404(tt: ThreeTier) -> None:
    err = assert_error(post(tt, {**GOOD, "model": "gpt-404"}), 404, "invalid_request_error", "model_not_found")
    assert "gpt-404" in err["message"]
    assert_still_serving(tt)


def test_body_over_limit_is_413_from_content_length(tt: ThreeTier) -> None:
    # Announce a huge body but send only the headers: the gateway must answer from Content-Length alone.
    with socket.create_connection(("127.0.0.1", tt.gw.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {tt.key}\r\nContent-Length: 500000000\r\n\r\n".encode()
        )
        head = s.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert '"request_too_large"' in head
    big = {"messages": [{"role": "user", "content": "x" * 300_000}]}
    assert_error(post(tt, big), 413, "invalid_request_error", "request_too_large")
    assert_still_serving(tt)


def test_prompt_longer_than_every_context_window(tt: ThreeTier) -> None:
    long = {"messages": [{"role": "user", "content": "word " * 35_000}]}  # ~44k tokens; largest window 32k
    err = assert_error(post(tt, long), 400, "invalid_request_error", "context_length_exceeded")
    assert "us-large" in err["message"]
    assert_still_serving(tt)


def test_missing_or_bad_key_is_401(tt: ThreeTier) -> None:
    assert_error(post(tt, GOOD, key=None), 401, "authentication_error", "invalid_api_key")
    assert_error(post(tt, GOOD, key="ag-000000000000-forged"), 401, "authentication_error")
    assert_still_serving(tt)


def test_upstream_failure_is_502_naming_the_upstream(tt: ThreeTier) -> None:
    tt.small.default = "500"
    err = assert_error(post(tt, {**GOOD, "model": "eu-small"}), 502, "upstream_error")
    assert "eu-small" in err["message"]
    assert len(tt.small.requests) == 3  # retried within max_attempts, never elsewhere (explicit model)
    tt.small.default = "ok"
    assert_still_serving(tt)


def test_upstream_timeout_is_504(tt: ThreeTier) -> None:
    tt.small.default = "stall"
    tt.small.stall_s = 3
    err = assert_error(post(tt, {**GOOD, "model": "eu-small"}, **{"x-aiguillage-deadline-ms": "1200"}), 504,
                       "upstream_error")
    assert "eu-small" in err["message"]
    tt.small.default = "ok"
    assert_still_serving(tt)


def test_upstream_rejecting_the_request_is_400_and_not_retried(tt: ThreeTier) -> None:
    tt.small.plan("400")
    err = assert_error(post(tt, GOOD), 400, "invalid_request_error", "upstream_rejected_request")
    assert "bad parameter" in err["message"]
    assert len(tt.small.requests) == 1 and not tt.medium.requests
    assert_still_serving(tt)


def test_unknown_route_and_wrong_method(tt: ThreeTier) -> None:
    r = httpx.get(tt.gw.url + "/v1/nothing", headers={"authorization": f"Bearer {tt.key}"})
    assert_error(r, 404, "invalid_request_error")
    r = httpx.get(tt.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {tt.key}"})
    assert_error(r, 405, "invalid_request_error")
    assert_still_serving(tt)


def test_fallback_to_next_cheapest_on_retryable_failure(tt: ThreeTier) -> None:
    tt.small.plan("500", "500", "500")
    r = post(tt, GOOD)
    assert r.status_code == 200
    assert r.headers["x-aiguillage-model"] == "onprem-medium"
    assert len(tt.small.requests) == 1 and len(tt.medium.requests) == 1
