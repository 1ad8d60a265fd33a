"""The same API over both server interfaces: granian's RSGI (what ``serve`` runs by default) and
ASGI (``serve --interface asgi``). Each case runs against a real gateway process on each."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

LIMIT = 50_000
GOOD = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


def _read_to_close(s: socket.socket) -> bytes:
    answer = b""
    while chunk := s.recv(65536):
        answer += chunk
    return answer


class Served:
    def __init__(self, gw: GatewayProcess, key: str, upstream: FakeOpenAI) -> None:
        self.gw, self.key, self.upstream = gw, key, upstream

    def post(self, content: bytes | Iterator[bytes], **headers: str) -> httpx.Response:
        h = {"authorization": f"Bearer {self.key}", "content-type": "application/json", **headers}
        return httpx.post(self.gw.url + "/v1/chat/completions", content=content, headers=h, timeout=20)

    def assert_serving(self) -> None:
        r = self.post(b'{"model": "auto", "messages": [{"role": "user", "content": "still there?"}]}')
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "Bonjour."


@pytest.fixture(scope="module", params=["rsgi", "asgi"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    upstream = FakeOpenAI("up", answer="Bonjour.").start()
    cfg = catalog(openai_deployment("eu-small", upstream.url, capabilities=["chat", "stream"]),
                  server={"max_body_bytes": LIMIT, "body_timeout_s": 1})
    gw = GatewayProcess(tmp_path_factory.mktemp(request.param), cfg, args=("--interface", request.param)).start()
    try:
        yield Served(gw, gw.key("acme"), upstream)
    finally:
        gw.stop()
        upstream.stop()


def test_the_gateway_serves_over_the_interface_asked_for(served: Served, request: pytest.FixtureRequest) -> None:
    interface = request.node.callspec.params["served"]
    assert f"over {interface.upper()};" in served.gw.log.read_text()


def test_sdk_completion_and_stream(served: Served) -> None:
    client = openai.OpenAI(base_url=served.gw.url + "/v1", api_key=served.key)
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "if-1"})
    assert raw.parse().choices[0].message.content == "Bonjour."
    assert raw.headers["x-request-id"] == "if-1"
    assert raw.headers["x-aiguillage-model"] == "eu-small"
    assert int(raw.headers["content-length"]) == len(raw.content)
    chunks = list(client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Bonjour."
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-404", messages=[{"role": "user", "content": "hi"}])


def test_chunked_body_without_content_length(served: Served) -> None:
    body = b'{"model": "auto", "messages": [{"role": "user", "content": "chunked"}]}'
    r = served.post(iter([body[:20], body[20:]]))  # an iterator: httpx sends Transfer-Encoding: chunked
    assert r.status_code == 200, r.text
    assert served.upstream.requests[-1]["json"]["messages"][0]["content"] == "chunked"
    big = iter([b'{"messages": [{"role": "user", "content": "', b"x" * (LIMIT // 2), b"x" * LIMIT, b'"}]}'])
    r = served.post(big)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "request_too_large"
    served.assert_serving()


def test_over_limit_from_content_length_alone(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.gw.port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Authorization: Bearer {served.key}\r\nContent-Length: 900000000\r\n\r\n".encode())
        head = s.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413"), head
    served.assert_serving()


@pytest.mark.parametrize("framing", ["no final chunk", "last chunk short", "short of Content-Length"])
def test_a_body_cut_short_is_refused_not_forwarded(served: Served, framing: str) -> None:
    # The client stops sending before the body's end: what arrived may even be valid JSON, but
    # it is not the request, and must not be billed or sent upstream.
    body = b'{"model": "auto", "messages": [{"role": "user", "content": "cut short"}]}'
    if framing == "short of Content-Length":
        head, sent = f"Content-Length: {len(body) + 10}\r\n\r\n".encode(), body
    else:
        size = len(body) + (0 if framing == "no final chunk" else 10)
        head = b"Transfer-Encoding: chunked\r\n\r\n"
        sent = b"%x\r\n" % size + body + (b"\r\n" if framing == "no final chunk" else b"")
    with socket.create_connection(("127.0.0.1", served.gw.port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Authorization: Bearer {served.key}\r\n".encode() + head + sent)
        s.shutdown(socket.SHUT_WR)  # the request ends here; the answer can still come back
        answer = _read_to_close(s)
    # Half-closed, the connection still carries the refusal back (RSGI and ASGI alike).
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b'"type":"invalid_request_error"' in answer
    served.assert_serving()
    assert all(r["json"]["messages"][0]["content"] != "cut short" for r in served.upstream.requests)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_that_stops_arriving_gets_a_408(served: Served, framing: str) -> None:
    # A client that sends part of its body and waits would otherwise hold a request slot for ever.
    head = (b"Content-Length: 100\r\n\r\n" + b'{"model": "auto"' if framing == "content-length"
            else b"Transfer-Encoding: chunked\r\n\r\n" + b'10\r\n{"model": "auto"\r\n')
    with socket.create_connection(("127.0.0.1", served.gw.port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Authorization: Bearer {served.key}\r\n".encode() + head)
        t = time.monotonic()
        answer = s.recv(65536)
        waited = time.monotonic() - t
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"code":"request_timeout"' in answer and 0.8 < waited < 5, (answer, waited)
    served.assert_serving()


def test_a_header_value_that_is_not_ascii_is_refused(served: Served) -> None:
    # Read in a guessed encoding, or dropped, the subject id would fall back to the tenant's: refuse it.
    r = httpx.post(served.gw.url + "/v1/chat/completions", json=GOOD, timeout=20,
                   headers=[(b"authorization", f"Bearer {served.key}".encode()),
                            (b"x-aiguillage-subject", "José Müller".encode())])
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == "x-aiguillage-subject"
    assert "ASCII" in err["message"]
    served.assert_serving()


@pytest.mark.parametrize("name", ["authorization", "x-aiguillage-subject"])
def test_a_credential_or_subject_header_given_twice_is_refused(served: Served, name: str) -> None:
    # The interfaces would each pick a different copy: one request, two possible payers.
    other = served.gw.key("someone-else")
    values = {"authorization": (f"Bearer {served.key}", f"Bearer {other}"), "x-aiguillage-subject": ("ana", "ben")}
    headers = [("authorization", f"Bearer {served.key}")] if name != "authorization" else []
    headers += [(name, v) for v in values[name]]
    r = httpx.post(served.gw.url + "/v1/chat/completions", json=GOOD, headers=headers, timeout=20)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == name and "more than once" in err["message"]
    served.assert_serving()


def test_head_wherever_get_and_405_names_the_allowed_methods(served: Served) -> None:
    # Load balancers' health checks often use HEAD: it answers as GET would, without the body.
    with socket.create_connection(("127.0.0.1", served.gw.port), timeout=10) as s:
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = _read_to_close(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"", answer
    auth = {"authorization": f"Bearer {served.key}"}
    r = httpx.head(served.gw.url + "/v1/models", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    r = httpx.get(served.gw.url + "/v1/chat/completions", headers=auth)
    assert r.status_code == 405 and r.headers["allow"] == "POST", r.headers
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = httpx.delete(served.gw.url + "/v1/decisions/abc", headers=auth)
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD", r.text
    served.assert_serving()


def test_a_request_id_that_cannot_be_sent_back_is_replaced(served: Served) -> None:
    r = served.post(b'{"messages": [{"role": "user", "content": "hi"}]}', **{"x-request-id": "abc\tdef"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] != "abc\tdef" and len(r.headers["x-request-id"]) == 32


def test_query_string_reaches_the_handler(served: Served) -> None:
    # A tenant named in the query needs an admin key: the refusal proves the query was read.
    r = httpx.get(served.gw.url + "/v1/usage?tenant=someone-else", headers={"authorization": f"Bearer {served.key}"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["param"] == "tenant"
    r = httpx.get(served.gw.url + "/v1/usage?tenant=acme", headers={"authorization": f"Bearer {served.key}"})
    assert r.status_code == 200, r.text
    served.assert_serving()
