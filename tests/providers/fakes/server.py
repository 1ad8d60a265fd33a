"""The common part of every fake vendor: a real HTTP server that logs requests and plays a script.

A vendor fake subclasses ``FakeVendor`` and renders an ``Answer`` (what the model "says")
in its own wire format, for plain and streaming requests, plus its own error bodies.
``fail_next`` makes the next request fail with an HTTP status; ``fail_stream`` makes the next
stream break after its first event with the vendor's in-stream error.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Answer:
    text: str = "Bonjour ! Comment puis-je vous aider ?"
    tool_calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (id, name, arguments)
    finish: str = "stop"  # stop | length | tool_calls, in OpenAI terms; each fake renders its own
    input_tokens: int = 21
    output_tokens: int = 9


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeVendor(ABC):
    paths: tuple[str, ...] = ()  # the documented endpoints; anything else is a 404

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answer = Answer()
        self._fail: tuple[int, str | None] | None = None
        self._fail_stream = False
        self.truncate_stream = False  # end the body after the first event, with no error and no end marker
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def fail_next(self, status: int, retry_after: str | None = None) -> None:
        self._fail = (status, retry_after)

    def fail_stream(self) -> None:
        self._fail_stream = True

    async def start(self) -> FakeVendor:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      {k.lower(): v for k, v in request.headers.items()}, body))
        if request.path not in self.paths or request.method != "POST":
            return self.error(404, "not found", None)
        if self._fail is not None:
            status, retry_after = self._fail
            self._fail = None
            return self.error(status, f"simulated {status}", retry_after)
        auth = self.check_auth(request)
        if auth is not None:
            return auth
        self.validate(request.path, body)
        if self.is_stream(request.path, body):
            resp = web.StreamResponse(headers={"Content-Type": self.stream_content_type})
            await resp.prepare(request)
            broken, self._fail_stream = self._fail_stream, False
            for i, piece in enumerate(self.stream_pieces(request.path, body, self.answer)):
                await resp.write(piece)
                if broken and i == 0:
                    await resp.write(self.stream_error())
                    break
                if self.truncate_stream and i == 0:
                    break
            await resp.write_eof()
            return resp
        return web.json_response(self.render(request.path, body, self.answer))

    def error(self, status: int, message: str, retry_after: str | None) -> web.Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return web.json_response(self.error_body(status, message), status=status, headers=headers)

    # -- what each vendor defines -----------------------------------------------------------------
    stream_content_type = "text/event-stream"

    def check_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != "Bearer sk-test":
            return self.error(401, "invalid api key", None)
        return None

    def is_stream(self, path: str, body: Any) -> bool:
        return bool(isinstance(body, dict) and body.get("stream"))

    def validate(self, path: str, body: Any) -> None:
        """Raise an ``aiohttp.web.HTTPException`` carrying the vendor's error body for a bad request."""

    @abstractmethod
    def render(self, path: str, body: Any, answer: Answer) -> Any:
        """Vendor-specific."""

    @abstractmethod
    def stream_pieces(self, path: str, body: Any, answer: Answer) -> list[bytes]:
        """Vendor-specific."""

    @abstractmethod
    def stream_error(self) -> bytes:
        """Vendor-specific."""

    def error_body(self, status: int, message: str) -> Any:
        return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()
