"""One typed error tree, rendered in the OpenAI error format at the HTTP edge.

Every layer raises one of these (providers translate vendor failures into them with
``raise ... from exc``); ``GatewayError.to_body`` is the only place the wire shape is built.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "GatewayError",
    "InvalidRequest",
    "AuthenticationError",
    "PermissionDenied",
    "PolicyBlocked",
    "NoEligibleDeployment",
    "NotFound",
    "PayloadTooLarge",
    "ContextLengthExceeded",
    "RateLimited",
    "BudgetExceeded",
    "Overloaded",
    "OutOfFiles",
    "StoreUnavailable",
    "out_of_files",
    "causes",
    "warn_503",
    "LogThrottle",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamConnectError",
    "UpstreamHTTPError",
    "UpstreamRejected",
    "UpstreamRateLimited",
]


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.details = details

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class RequestTimeout(InvalidRequest):
    status = 408
    code = "request_timeout"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"


class PolicyBlocked(PermissionDenied):
    code = "personal_data_blocked"


class NoEligibleDeployment(PermissionDenied):
    code = "no_eligible_deployment"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class BudgetExceeded(GatewayError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class Overloaded(GatewayError):
    status = 503
    type = "server_error"
    code = "overloaded"


class OutOfFiles(Overloaded):
    """The gateway itself has run out of open files: its own limit, not a deployment's fault, so
    it is never counted against a deployment's breaker. A 503 the client may retry."""

    code = "out_of_files"

    def __init__(self, where: str) -> None:
        super().__init__(
            f"the gateway has run out of open files ({where}); retry shortly. Operators: raise the "
            "server's open-file limit (ulimit -n, systemd LimitNOFILE) or add replicas",
            headers={"Retry-After": "1"})


class StoreUnavailable(Overloaded):
    """The gateway's database cannot be reached or written: the request cannot be recorded, so
    it is not acknowledged. A 503 the client may retry."""

    code = "store_unavailable"

    # What became of the request, by how far it got.
    NOT_RECORDED = "the request was not recorded, so it is not acknowledged"
    UNCONFIRMED = "the request is not acknowledged (its record may still be committed later)"
    NOT_SERVED = "the request was not served, so it is not acknowledged"

    def __init__(self, reason: str, outcome: str = NOT_RECORDED) -> None:
        super().__init__(f"the gateway could not use its database ({reason}); {outcome}: retry shortly",
                         headers={"Retry-After": "1"})


_OUT_OF_FILES = (errno.EMFILE, errno.ENFILE)
# How Rust's standard library words the same errors, where the upstream client gives only text.
_OUT_OF_FILES_TEXT = ("(os error 24)", "(os error 23)")
_RESOLVER_FAILED = ("dns error", "failed to lookup address")
_SQLITE_CANTOPEN = 14


def out_of_files(exc: BaseException | None, network: bool = False) -> bool:
    """``exc``, or an error it was raised from, is the process (or the system) out of open files.

    ``network``: ``exc`` is the upstream client's failure to connect. Its text names the OS
    error when the socket could not be made, but a host name fails earlier, in the resolver,
    with a "dns error" that does not say why: for those only, ask the system whether a
    descriptor is left (a refused or reset connection is the deployment's, whatever the limit)."""
    for err in causes(exc):
        if isinstance(err, OSError) and err.errno in _OUT_OF_FILES:
            return True
        if network and any(t in str(err) for t in _OUT_OF_FILES_TEXT):
            return True
        # SQLite says only "unable to open database file", whatever the reason: ask the system.
        if getattr(err, "sqlite_errorcode", None) == _SQLITE_CANTOPEN and _no_descriptor_left():
            return True
    return network and any(t in str(exc) for t in _RESOLVER_FAILED) and _no_descriptor_left()


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc``, then each error it was raised from or while handling (at most 8: a chain may loop)."""
    for _ in range(8):
        if exc is None:
            return
        yield exc
        exc = exc.__cause__ or exc.__context__


def _no_descriptor_left() -> bool:
    try:
        os.close(os.dup(2))
    except OSError as exc:
        return exc.errno in _OUT_OF_FILES
    return False


class LogThrottle:
    """At most one log line every ``interval_s`` for something that comes in bursts (every
    request in flight during an outage), with the counts it stands for: one line with a count
    says as much as thousands."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._last = float("-inf")
        self._counts: list[int] = []

    def tick(self, *amounts: int) -> list[int] | None:
        """Count one occurrence (``amounts``: what to add to each count). The counts since the
        last line when a line is due now, else None."""
        self._counts = [c + a for c, a in zip(self._counts, amounts)] if self._counts else list(amounts)
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return None
        counts, self._last, self._counts = self._counts, now, []
        return counts

    def clear(self) -> None:
        """Forget the counts since the last line (a later line said them)."""
        self._counts = []


_warned: dict[str, LogThrottle] = {}


def warn_503(kind: str, where: str, exc: BaseException) -> None:
    """Log a 503 of ``kind`` (running out of open files, the database unavailable), throttled."""
    counts = _warned.setdefault(kind, LogThrottle()).tick(1)
    if counts is not None:
        logging.getLogger("aiguillage").warning(
            "%s: %d request(s) answered 503 since the last such warning; %s: %s", kind, counts[0], where, exc)


class UpstreamError(GatewayError):
    """A deployment failed. ``retryable`` decides whether a fallback may be tried."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True
    # False when the failure may lie in the request rather than the deployment: no breaker hears of it.
    blames_deployment = True

    def __init__(self, message: str, *, deployment: str, upstream_status: int | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.deployment = deployment
        self.upstream_status = upstream_status


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamConnectError(UpstreamError):
    code = "upstream_unreachable"


class UpstreamHTTPError(UpstreamError):
    """5xx or otherwise unusable answer from the upstream."""


class UpstreamRateLimited(UpstreamError):
    code = "upstream_rate_limited"

    def __init__(self, message: str, *, deployment: str, retry_after: float | None = None, **kw: Any):
        super().__init__(message, deployment=deployment, upstream_status=429, **kw)
        self.retry_after = retry_after


class UpstreamRejected(UpstreamError):
    """A 4xx the upstream blames on the request itself: never retried, surfaced as 400."""

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected_request"
    retryable = False
