"""One request as the handlers see it, over either server interface the App answers on.

RSGI is granian's own interface and what ``aiguillage serve`` uses. Headers are read from
granian's mapping on demand and a whole answer leaves in one call. ASGI builds a dict per
message and a list of byte pairs per header set, which cost the bare proxy about a third more
CPU per request (docs/benchmarks.md, sixth session). ASGI stays for any other ASGI server and
for ``serve --interface asgi``.

Both give the handlers the same object: the method and path, headers by lower-case name, the
body under a size limit, and the answer, whole or streamed.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from typing import Any

from aiguillage.decision import new_id
from aiguillage.errors import InvalidRequest, PayloadTooLarge
from aiguillage.keys import KeyInfo

Headers = list[tuple[str, str]]

# Headers that decide who pays and whose data it is. Sent twice, the two server interfaces
# would each pick a different copy (granian's RSGI mapping the first, an ASGI dict the last):
# such a request is refused rather than billed to a guess.
SINGLE = frozenset({"authorization", "x-api-key", "api-key", "x-aiguillage-subject"})


class Request(abc.ABC):
    """The request, and the means to answer it. Subclasses bind it to one server interface."""

    __slots__ = ("method", "path", "request_id", "key")

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        rid = self._raw("x-request-id")
        # Sent back as a header: one that could not be (a control character) is replaced.
        self.request_id = rid[:128] if rid and rid.isprintable() else new_id()
        self.key: KeyInfo | None = None

    @abc.abstractmethod
    def _raw(self, name: str) -> str | None:
        """The header's value if it is ASCII, else None."""

    @abc.abstractmethod
    def _present(self, name: str) -> bool:
        """Whether the request carries the header at all."""

    @abc.abstractmethod
    def _repeated(self, name: str) -> bool:
        """Whether the request carries the header more than once."""

    def header(self, name: str) -> str | None:
        """A header's value (``name`` in lower case). Values must be ASCII, as HTTP asks: a value
        that is not is refused rather than read in a guessed encoding, so that, for example, a
        data subject's id is never silently replaced by the tenant's. The ``SINGLE`` headers must
        come once."""
        v = self._raw(name)
        if v is None:
            if self._present(name):
                raise InvalidRequest(f"the {name} header must be ASCII; percent-encode other characters",
                                     param=name)
        elif name in SINGLE and self._repeated(name):
            raise InvalidRequest(f"the {name} header is given more than once", param=name)
        return v

    @property
    @abc.abstractmethod
    def query_string(self) -> str:
        """The raw query string, without the '?'."""

    def declared_length(self, limit: int) -> int | None:
        """The body's Content-Length, refused before any of the body is read if over ``limit``."""
        cl = self.header("content-length")
        if cl is None:
            return None
        try:
            n = int(cl)
        except ValueError:
            raise InvalidRequest("invalid Content-Length header") from None
        if n > limit:
            raise PayloadTooLarge(f"the request body is {n} bytes; the limit is {limit} bytes")
        return n

    @abc.abstractmethod
    async def body(self, limit: int) -> bytes:
        """The whole body, refused with a 413 as soon as it is known to exceed ``limit``."""

    @abc.abstractmethod
    async def respond(self, status: int, headers: Headers, body: bytes) -> None:
        """A whole answer, with its Content-Length."""

    @abc.abstractmethod
    async def open_stream(self, status: int, headers: Headers) -> None:
        """Start a streamed answer; ``send_chunk`` then ``close_stream`` follow."""

    @abc.abstractmethod
    async def send_chunk(self, data: bytes) -> None:
        """One piece of a streamed answer."""

    @abc.abstractmethod
    async def close_stream(self) -> None:
        """End a streamed answer."""


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes")


class RsgiRequest(Request):
    __slots__ = ("_scope", "_headers", "_proto", "_stream", "_dups")

    def __init__(self, scope: Any, proto: Any) -> None:
        self._scope = scope
        self._headers = scope.headers
        self._proto = proto
        self._stream: Any = None
        self._dups: frozenset[str] | None = None  # header names sent more than once, once asked
        super().__init__(scope.method, scope.path)

    def _raw(self, name: str) -> str | None:
        # granian's mapping answers None for a value that is not ASCII.
        return self._headers.get(name)

    def _present(self, name: str) -> bool:
        return name in self._headers

    def _repeated(self, name: str) -> bool:
        if self._dups is None:
            items = self._headers.items()
            if len(items) == len(self._headers.keys()):
                self._dups = frozenset()
            else:
                seen: set[str] = set()
                dups: set[str] = set()
                for k, _ in items:
                    (dups if k in seen else seen).add(k)
                self._dups = frozenset(dups)
        return name in self._dups

    @property
    def query_string(self) -> str:
        return str(self._scope.query_string)

    async def body(self, limit: int) -> bytes:
        from granian.rsgi import ProtocolClosed, ProtocolError

        declared = self.declared_length(limit)
        try:
            if declared is not None:
                return await self._proto()  # the server reads no more than Content-Length
            chunks: list[bytes] = []
            size = 0
            ended = False
            # HTTP/2 may carry empty DATA frames mid-body, which look the same: HTTP/1.1 only.
            strict = str(getattr(self._scope, "http_version", "1.1")).startswith("1")
            async for part in self._proto:
                # granian gives b"" for the body's end, and also for a frame that failed (the
                # client went away mid-body, or sent broken chunked framing) after which the
                # end follows. Data after an empty part therefore means the body is incomplete:
                # refuse it rather than pass a truncated body on, perhaps as valid JSON.
                if ended and strict:
                    raise InvalidRequest("the request body was cut short: the client disconnected or "
                                         "sent malformed chunked framing (request trailers are not supported)")
                if not part:
                    ended = True
                    continue
                size += len(part)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(part)
            return b"".join(chunks)
        except (ProtocolClosed, ProtocolError):
            raise InvalidRequest("the client disconnected while sending the body") from None

    async def respond(self, status: int, headers: Headers, body: bytes) -> None:
        self._proto.response_bytes(status, headers, body)

    async def open_stream(self, status: int, headers: Headers) -> None:
        self._stream = self._proto.response_stream(status, headers)

    async def send_chunk(self, data: bytes) -> None:
        await self._stream.send_bytes(data)

    async def close_stream(self) -> None:
        self._stream = None  # granian ends the response when its transport is released


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _asgi_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("utf-8")) for k, v in headers]


class AsgiRequest(Request):
    __slots__ = ("_scope", "_headers", "_receive", "_send")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._headers: dict[bytes, bytes] = {}
        for k, v in scope["headers"]:
            self._headers.setdefault(k, v)  # the first, as granian's RSGI mapping answers
        self._receive = receive
        self._send = send
        super().__init__(scope["method"], scope["path"])

    def _raw(self, name: str) -> str | None:
        v = self._headers.get(name.encode())
        return v.decode("ascii") if v is not None and v.isascii() else None

    def _present(self, name: str) -> bool:
        return name.encode() in self._headers

    def _repeated(self, name: str) -> bool:
        raw = self._scope["headers"]
        key = name.encode()
        return len(raw) != len(self._headers) and sum(k == key for k, _ in raw) > 1

    @property
    def query_string(self) -> str:
        return bytes(self._scope.get("query_string", b"")).decode("latin-1")

    async def body(self, limit: int) -> bytes:
        self.declared_length(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await self._receive()
            if msg["type"] == "http.disconnect":
                raise InvalidRequest("the client disconnected while sending the body")
            part = msg.get("body", b"")
            size += len(part)
            if size > limit:
                raise _too_large(limit)
            chunks.append(part)
            if not msg.get("more_body"):
                return b"".join(chunks) if len(chunks) != 1 else chunks[0]

    async def respond(self, status: int, headers: Headers, body: bytes) -> None:
        await self._send({"type": "http.response.start", "status": status,
                          "headers": [(b"content-length", str(len(body)).encode()), *_asgi_headers(headers)]})
        await self._send({"type": "http.response.body", "body": body})

    async def open_stream(self, status: int, headers: Headers) -> None:
        await self._send({"type": "http.response.start", "status": status, "headers": _asgi_headers(headers)})

    async def send_chunk(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def close_stream(self) -> None:
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})
