"""Every kind of bad input gets the right status and an OpenAI-format error, and the server
keeps serving: each case is followed by a good request."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway.conftest import ThreeTier
from tests.support import GatewayProcess, catalog, openai_deployment

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
        ({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}}, "stream_options"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": 5}]}]}, "messages[0].content"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [5]}, {"role": "user", "content": "x"}]},
         "messages[0].tool_calls"),
        ({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": 5}},
         "response_format"),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "function", "function": 5}},
         "tool_choice"),
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


def _nested(depth: int) -> bytes:
    return b'{"x": ' + b"[" * depth + b"]" * depth + b', "messages": [{"role": "user", "content": "hi"}]}'


@pytest.mark.parametrize("stream", [False, True])
def test_json_nested_too_deep_is_400_and_never_sent_upstream(tt: ThreeTier, stream: bool) -> None:
    # Readable JSON that could not be written back out (orjson writes ~254 levels): refuse it up front.
    body = _nested(254)[:-1] + (b', "stream": true}' if stream else b"}")
    err = assert_error(post(tt, body), 400, "invalid_request_error")
    assert "nests deeper" in err["message"]
    assert not any(f.requests for f in tt.fakes)
    assert post(tt, _nested(100)).status_code == 200  # deep, but not too deep
    assert_still_serving(tt)


class Pair:
    """A gateway in front of a primary and a fallback whose breakers never open: every request
    really reaches the primary, whatever the earlier tests did to it."""

    def __init__(self, tmp: Path) -> None:
        self.primary = FakeOpenAI("primary", answer="Primaire.").start()
        self.fallback = FakeOpenAI("fallback", answer="Secours.").start()
        cfg = catalog(openai_deployment("primary", self.primary.url, "small", "eu", ("0.2", "0.6"),
                                        capabilities=["chat", "stream"]),
                      openai_deployment("fallback", self.fallback.url, "medium", "eu", ("1", "3"),
                                        capabilities=["chat", "stream"]),
                      resilience={"breaker_failures": 1_000_000, "backoff_base_s": 0.01})
        self.gw = GatewayProcess(tmp, cfg).start()
        self.key = self.gw.key("acme")

    def chat(self, stream: bool) -> tuple[httpx.Response, str]:
        with httpx.stream("POST", self.gw.url + "/v1/chat/completions", json={**GOOD, "stream": stream},
                          timeout=20, headers={"authorization": f"Bearer {self.key}"}) as r:
            return r, r.read().decode()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    p = Pair(tmp_path_factory.mktemp("pair"))
    try:
        yield p
    finally:
        p.gw.stop()
        p.primary.stop()
        p.fallback.stop()


@pytest.mark.parametrize(("action", "stream"), [("bad-message", False), ("bad-usage", False), ("bad-first", True)])
def test_a_malformed_answer_is_an_upstream_failure_and_the_next_deployment_answers(
    pair: Pair, action: str, stream: bool
) -> None:
    pair.primary.reset()
    pair.fallback.reset()
    pair.primary.plan(action, action, action)
    r, text = pair.chat(stream)
    assert r.status_code == 200, text
    assert r.headers["x-aiguillage-model"] == "fallback"
    assert len(pair.primary.requests) >= 1 and len(pair.fallback.requests) == 1
    assert "Seco" in text  # streamed four characters at a time


def test_a_malformed_event_mid_stream_ends_in_an_upstream_error_event(pair: Pair) -> None:
    pair.primary.reset()
    pair.primary.plan("bad-mid")
    r, text = pair.chat(stream=True)
    assert r.status_code == 200 and r.headers["x-aiguillage-model"] == "primary"
    assert "upstream_error" in text and "malformed stream event" in text and "internal" not in text, text
    assert pair.chat(stream=False)[0].status_code == 200


def _deep_list(depth: int) -> list:
    out: list = []
    for _ in range(depth - 1):
        out = [out]
    return out


def _post_to(tt: ThreeTier, path: str, body: dict) -> httpx.Response:
    return httpx.post(tt.gw.url + path, json=body, timeout=20,
                      headers={"authorization": f"Bearer {tt.key}", "x-api-key": tt.key})


@pytest.mark.parametrize("extra", [
    {"system": [{"type": "text", "text": 5}]},
    {"messages": [{"role": "user", "content": [{"type": "image", "source": "x"}]}]},
    {"messages": [{"role": "user", "content": [{"type": "document", "source": "abc"}]}]},
    {"stream": "yes"},
])
def test_ill_typed_messages_api_fields_are_400_in_anthropic_format(tt: ThreeTier, extra: dict) -> None:
    body = {"model": "auto", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **extra}
    r = _post_to(tt, "/v1/messages", body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error", r.text
    assert not any(f.requests for f in tt.fakes)
    assert_still_serving(tt)


@pytest.mark.parametrize("extra", [
    {"tools": 5},
    {"stream": "yes"},
    {"metadata": {"x": _deep_list(250)}},  # echoed back by the Responses API: refused before the call
])
def test_ill_typed_responses_api_fields_are_400(tt: ThreeTier, extra: dict) -> None:
    r = _post_to(tt, "/v1/responses", {"model": "auto", "input": "hi", **extra})
    assert_error(r, 400, "invalid_request_error")
    assert not any(f.requests for f in tt.fakes)
    assert_still_serving(tt)


def test_a_responses_message_with_a_tool_role_is_refused_naming_the_role(tt: ThreeTier) -> None:
    r = _post_to(tt, "/v1/responses", {"model": "auto", "input": [{"type": "message", "role": "tool", "content": "x"}]})
    err = assert_error(r, 400, "invalid_request_error")
    assert err["param"] == "input[0].role" and "function_call_output" in err["message"], err
