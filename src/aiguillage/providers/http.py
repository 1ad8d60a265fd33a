"""The HTTP client every provider of a worker shares to reach its upstreams.

pyreqwest (Rust's reqwest and hyper, driven from a runtime thread of its own) keeps a pool of
kept-alive connections per client. It was chosen by measurement against aiohttp's
``ClientSession``, which the gateway used before (docs/benchmarks.md, ninth session): for the
benchmark's short chat request, about half the CPU per call in one process (36 against 70 µs
at 16 concurrent calls), and 13–29% more requests/s for a bare proxy at 64 connections.

Connect and read timeouts belong to a client in pyreqwest, and each deployment may set its own,
so there is one client per timeout profile (usually one in all). The read timeout bounds the wait
for the first byte of the answer and for each later read (first token, idle); every caller bounds
the whole call with its own deadline.

Proxies from the environment are not used (as with aiohttp's ``trust_env=False``) and no cookie
is kept: upstream cookies (load-balancer affinity and the like) must not be replayed across
tenants' requests. Failures are raised as the typed ``UpstreamError`` tree.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import NetworkError, PyreqwestError, RequestTimeoutError
from pyreqwest.request import StreamRequest
from pyreqwest.response import Response

from aiguillage.config import Timeouts
from aiguillage.errors import (
    OutOfFiles, UpstreamConnectError, UpstreamHTTPError, UpstreamTimeout, out_of_files, warn_503,
)

__all__ = ["Opened", "UpstreamHttp", "abort_after", "call_deadline", "error_text", "lines", "read_body"]

# A streamed line longer than this (no newline in sight) is refused rather than buffered on.
MAX_LINE_BYTES = 16 * 1024 * 1024
_ERROR_TEXT_BYTES = 2000

# When the caller gives up on the current upstream call (time.monotonic(); call.py sets it).
# pyreqwest goes on with a request whose awaiting task was cancelled, so each request carries
# a total timeout of its own, up to that moment: an upstream the gateway stopped waiting for is
# not kept generating (and billing) tokens, nor holding a connection. The margin lets the
# caller's own timeout fire first, so its error and its accounting of the attempt stand.
call_deadline: ContextVar[float | None] = ContextVar("aiguillage_call_deadline", default=None)
ABORT_MARGIN_S = 0.25


@contextlib.contextmanager
def abort_after(seconds: float) -> Iterator[None]:
    """Requests sent inside this block (by this task) end upstream ``seconds`` from now, plus the
    margin: for a caller that stops waiting with ``asyncio.timeout(seconds)``."""
    token = call_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        call_deadline.reset(token)


class Opened:
    """A streamed answer whose headers have arrived; ``aclose`` frees its connection."""

    __slots__ = ("request", "response")

    def __init__(self, request: StreamRequest, response: Response) -> None:
        self.request = request
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status

    async def aclose(self) -> None:
        request, self.request = self.request, None  # type: ignore[assignment]
        if request is not None:
            await request.__aexit__(None, None, None)


class UpstreamHttp:
    """One worker's upstream clients, one per timeout profile; ``close`` when the worker stops."""

    def __init__(self) -> None:
        self._clients: dict[tuple[float, float], Client] = {}

    def client(self, timeouts: Timeouts) -> Client:
        key = (timeouts.connect, max(timeouts.first_token, timeouts.idle))
        got = self._clients.get(key)
        if got is None:
            got = self._clients[key] = (
                ClientBuilder()
                .connect_timeout(timedelta(seconds=key[0]))
                .read_timeout(timedelta(seconds=key[1]))
                .pool_idle_timeout(timedelta(seconds=30))
                .no_proxy()
                .follow_redirects(False)
                .build()
            )
        return got

    def _builder(self, timeouts: Timeouts, url: str, body: bytes, headers: dict[str, str],
                 params: dict[str, str] | None) -> Any:
        end = call_deadline.get()
        # With no caller's limit, the longest any call may take: a stream's total counts from
        # its first chunk.
        budget = timeouts.first_token + timeouts.total if end is None else end - time.monotonic()
        builder = (self.client(timeouts).post(url).body_bytes(body).headers(headers)
                   .timeout(timedelta(seconds=max(0.0, budget) + ABORT_MARGIN_S)))
        return builder.query(params) if params else builder

    async def post(self, timeouts: Timeouts, url: str, body: bytes, headers: dict[str, str],
                   params: dict[str, str] | None, dep: str) -> Response:
        """POST and return the answer, its body read (any status)."""
        try:
            return await self._builder(timeouts, url, body, headers, params).build().send()
        except (PyreqwestError, ValueError) as exc:
            raise _upstream_error(dep, exc) from exc

    async def post_streamed(self, timeouts: Timeouts, url: str, body: bytes, headers: dict[str, str],
                            params: dict[str, str] | None, dep: str) -> Opened:
        """POST and return once the answer's headers arrived; the body is read as it comes."""
        try:
            # 0: return at the headers. By default the answer's first 64 KiB are read ahead before
            # the response is handed over, which would hold a stream's first tokens back.
            request = self._builder(timeouts, url, body, headers, params).streamed_read_buffer_limit(0).build_streamed()
            return Opened(request, await request.__aenter__())
        except (PyreqwestError, ValueError) as exc:
            raise _upstream_error(dep, exc) from exc

    async def get_status(self, timeouts: Timeouts, url: str, headers: dict[str, str], dep: str) -> int:
        """GET ``url`` within the connect and first-token timeouts: its status."""
        try:
            request = (self.client(timeouts).get(url).headers(headers)
                       .timeout(timedelta(seconds=timeouts.connect + timeouts.first_token)).build())
            return (await request.send()).status
        except (PyreqwestError, ValueError) as exc:
            raise _upstream_error(dep, exc) from exc

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.close()

    async def __aenter__(self) -> UpstreamHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def read_body(resp: Response, dep: str) -> bytes:
    try:
        return bytes(await resp.bytes())
    except PyreqwestError as exc:
        raise _upstream_error(dep, exc, answering=True) from exc


async def error_text(resp: Response | Opened) -> str:
    """What an error answer says, for the error message: the start of its body ("" if it cannot
    be read), or where a redirect pointed."""
    response = resp.response if isinstance(resp, Opened) else resp
    if 300 <= response.status < 400:
        # Redirects are not followed: the request would carry the deployment's key elsewhere.
        return (f"a redirect to {response.get_header('Location') or '(no Location)'}, not followed: "
                "set base_url to the address that answers")
    try:
        if isinstance(resp, Opened):
            data = await response.body_reader.read(_ERROR_TEXT_BYTES) or b""
        else:
            data = await response.bytes()
        return bytes(data)[:_ERROR_TEXT_BYTES].decode("utf-8", "replace")
    except (PyreqwestError, TimeoutError):
        return ""


async def lines(opened: Opened, dep: str) -> AsyncIterator[bytes]:
    """The streamed body's lines (without their line break), as they arrive."""
    reader = opened.response.body_reader
    buf = bytearray()
    try:
        while True:
            chunk = await reader.read_chunk()
            if chunk is None:
                break
            seen = len(buf)  # no line break before here: search only the new bytes
            buf += chunk
            start = 0
            end = buf.find(b"\n", seen)
            while end >= 0:
                yield bytes(buf[start:end])
                start = end + 1
                end = buf.find(b"\n", start)
            del buf[:start]
            if len(buf) > MAX_LINE_BYTES:
                raise UpstreamHTTPError(f"deployment '{dep}' sent a line over {MAX_LINE_BYTES} bytes mid-stream",
                                        deployment=dep)
        if buf:
            yield bytes(buf)
    except PyreqwestError as exc:
        if isinstance(exc, RequestTimeoutError):
            raise UpstreamTimeout(f"deployment '{dep}' stalled mid-stream", deployment=dep) from exc
        raise UpstreamConnectError(f"deployment '{dep}' dropped the stream: {_reason(exc)}", deployment=dep) from exc
    finally:
        await opened.aclose()


def _upstream_error(dep: str, exc: Exception, answering: bool = False) -> Exception:
    """The typed error for a failed call. A ValueError is a request pyreqwest could not build
    from the deployment's settings (a base_url without a scheme, a key with a line break)."""
    if isinstance(exc, NetworkError) and not answering and out_of_files(exc, network=True):
        # No socket for the call: the gateway's own limit, not the deployment's fault.
        warn_503("out of open files", f"calling deployment '{dep}'", exc)
        return OutOfFiles(f"calling deployment '{dep}'")
    if isinstance(exc, RequestTimeoutError):
        return UpstreamTimeout(f"deployment '{dep}' timed out{' while answering' if answering else ''}",
                               deployment=dep)
    if isinstance(exc, NetworkError):
        what = "dropped the connection" if answering else "is unreachable"
        return UpstreamConnectError(f"deployment '{dep}' {what}: {_reason(exc)}", deployment=dep)
    return UpstreamHTTPError(f"deployment '{dep}' failed: {_reason(exc)}", deployment=dep)


def _reason(exc: Any) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
