"""The provider protocol: the one seam between the gateway and any model server.

The gateway speaks the OpenAI chat-completions format internally. A provider receives an
OpenAI-format request body (``model`` already set to the deployment's upstream name) and
returns OpenAI-format answers: ``complete`` gives one ``chat.completion`` dict, ``stream``
yields ``chat.completion.chunk`` dicts. Vendor adapters translate both ways inside their
own module; the core never branches on a vendor.

All HTTP goes through the worker's one ``UpstreamHttp`` handed in at construction
(aiguillage.providers.http: pooled keep-alive connections); failures are raised as the typed
``UpstreamError`` tree.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from typing import Any, ClassVar

import orjson
from pyreqwest.response import Response

from aiguillage.config import Deployment, Timeouts
from aiguillage.errors import (
    UpstreamHTTPError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from aiguillage.providers.http import Opened, UpstreamHttp, error_text, lines, read_body

__all__ = [
    "Provider",
    "load_provider_class",
    "raise_for_upstream",
    "iter_sse",
    "iter_ndjson",
    "ENTRY_POINT_GROUP",
]

ENTRY_POINT_GROUP = "aiguillage.providers"
CHAT, STREAM, TOOLS, JSON_MODE, EMBEDDINGS, VISION = "chat", "stream", "tools", "json_mode", "embeddings", "vision"


class Provider(ABC):
    """Base class of every provider. Subclasses override ``complete`` and ``stream``.

    Class attributes describe the vendor; a deployment's YAML can override jurisdiction,
    data retention and capabilities.
    """

    kind: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE})
    default_jurisdiction: ClassVar[str | None] = None
    default_data_retention: ClassVar[str | None] = None
    default_base_url: ClassVar[str | None] = None

    def __init__(self, deployment: Deployment, http: UpstreamHttp | None, timeouts: Timeouts) -> None:
        self.deployment = deployment
        self.http = http
        self.timeouts = deployment.timeouts or timeouts
        self.base_url = (deployment.base_url or self.default_base_url or "").rstrip("/")
        self.upstream_model = deployment.model or deployment.id

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Called once before serving (load a model, warm a connection)."""

    async def close(self) -> None:
        """Release resources."""

    @property
    def ready(self) -> bool:
        return True

    # -- capabilities ----------------------------------------------------------------------------
    @classmethod
    def effective_capabilities(cls, deployment: Deployment) -> frozenset[str]:
        if deployment.capabilities is not None:
            return frozenset(deployment.capabilities)
        return cls.capabilities

    @classmethod
    def jurisdiction_of(cls, deployment: Deployment) -> str:
        return deployment.jurisdiction or cls.default_jurisdiction or "unknown"

    # -- the protocol ----------------------------------------------------------------------------
    @abstractmethod
    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One OpenAI ``chat.completion`` dict for an OpenAI-format request body."""

    @abstractmethod
    def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """OpenAI ``chat.completion.chunk`` dicts; the last carries ``usage`` when known."""

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        raise UpstreamRejected(
            f"deployment '{self.deployment.id}' does not offer embeddings", deployment=self.deployment.id
        )

    # -- helpers for subclasses ------------------------------------------------------------------
    async def post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Response:
        """POST JSON and return the answer (its body read), or raise a typed upstream error."""
        assert self.http is not None, "HTTP providers need the worker's upstream client"
        dep = self.deployment.id
        resp = await self.http.post(self.timeouts, url, orjson.dumps(payload), _json_headers(headers), params, dep)
        if resp.status >= 300:
            raise_for_upstream(dep, resp.status, await error_text(resp), resp.get_header("Retry-After"))
        return resp

    async def post_stream(
        self, url: str, payload: dict[str, Any], headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Opened:
        """POST JSON and return the answer as soon as its headers arrive, for ``iter_sse`` or
        ``iter_ndjson`` to read; or raise a typed upstream error."""
        assert self.http is not None, "HTTP providers need the worker's upstream client"
        dep = self.deployment.id
        opened = await self.http.post_streamed(self.timeouts, url, orjson.dumps(payload), _json_headers(headers),
                                               params, dep)
        if opened.status >= 300:
            try:
                text = await error_text(opened)
            finally:
                await opened.aclose()
            raise_for_upstream(dep, opened.status, text, opened.response.get_header("Retry-After"))
        return opened

    async def read_json(self, resp: Response) -> Any:
        dep = self.deployment.id
        raw = await read_body(resp, dep)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamHTTPError(f"deployment '{dep}' answered with invalid JSON", deployment=dep) from exc


def _json_headers(headers: dict[str, str] | None) -> dict[str, str]:
    return {"Content-Type": "application/json", **headers} if headers else {"Content-Type": "application/json"}


def _error_message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("msg")
            if msg:
                return str(msg)[:300]
        elif isinstance(err, str):
            return err[:300]
        for key in ("message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])[:300]
    return text.strip()[:300]


def raise_for_upstream(dep: str, status: int, text: str, retry_after: str | None = None) -> None:
    """Map an upstream HTTP error status onto the typed error tree (by status, never by text)."""
    msg = f"deployment '{dep}' answered {status}: {_error_message(text)}"
    if status == 429:
        ra: float | None = None
        try:
            ra = float(retry_after) if retry_after else None
            if ra is not None and not (math.isfinite(ra) and ra >= 0):
                ra = None
        except ValueError:
            ra = None
        raise UpstreamRateLimited(msg, deployment=dep, retry_after=ra)
    if status in (408, 504):
        raise UpstreamTimeout(msg, deployment=dep, upstream_status=status)
    if status in (401, 403):
        # The gateway's credentials for the upstream are wrong: not the client's fault, not retryable there.
        err = UpstreamHTTPError(msg, deployment=dep, upstream_status=status)
        err.retryable = True  # another deployment may still answer
        raise err
    if status == 404:
        # The upstream does not know the configured model or path: a deployment fault another may cover.
        raise UpstreamHTTPError(msg, deployment=dep, upstream_status=status)
    if 400 <= status < 500:
        raise UpstreamRejected(msg, deployment=dep, upstream_status=status)
    raise UpstreamHTTPError(msg, deployment=dep, upstream_status=status)


async def iter_sse(opened: Opened, dep: str) -> AsyncIterator[tuple[str | None, bytes]]:
    """Yield ``(event, data)`` for each server-sent event, as bytes, without buffering the body."""
    event: str | None = None
    data: list[bytes] = []
    try:
        async for raw in lines(opened, dep):
            line = raw.rstrip(b"\r")
            if not line:
                if data:
                    yield event, b"\n".join(data)
                event, data = None, []
                continue
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode()
        if data:
            yield event, b"\n".join(data)
    finally:  # a consumer that stops early frees the connection now, not when collected
        await opened.aclose()


async def iter_ndjson(opened: Opened, dep: str) -> AsyncIterator[Any]:
    """Yield one parsed object per line of a newline-delimited JSON stream."""
    try:
        async for raw in lines(opened, dep):
            line = raw.strip()
            if line:
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise UpstreamHTTPError(f"deployment '{dep}' sent invalid NDJSON", deployment=dep) from exc
    finally:
        await opened.aclose()


_cache: dict[str, type[Provider]] = {}


def load_provider_class(kind: str) -> type[Provider]:
    """Find a provider by name in the ``aiguillage.providers`` entry-point group."""
    if kind in _cache:
        return _cache[kind]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == kind:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Provider)):
                raise TypeError(f"entry point '{kind}' does not name a Provider subclass")
            _cache[kind] = cls
            return cls
    known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    raise KeyError(f"unknown provider '{kind}' (known: {', '.join(known)})")


def known_providers() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
