"""The OpenAI answer shape every later step relies on, checked where answers leave a provider.

Each provider translates its vendor's answer into OpenAI's ``chat.completion`` (or ``.chunk``)
shape. The caller checks that shape once, for every provider, so that an upstream sending
``"choices": [5]`` or ``"usage": {"prompt_tokens": "a"}`` is an upstream failure (a 502 naming
it, and the next deployment tried), never a crash deeper in the gateway. A provider that itself
stumbles on such an answer is treated the same way (``malformed``).
"""

from __future__ import annotations

from typing import Any

from aiguillage.errors import UpstreamHTTPError

# What a provider's own code raises on something of the wrong shape: the answer, or the request
# it translated (a field the validation let through that the vendor's format cannot carry).
SHAPE_ERRORS = (TypeError, KeyError, AttributeError, ValueError, IndexError)


def malformed(deployment: str, what: str = "chat completion") -> UpstreamHTTPError:
    return UpstreamHTTPError(f"deployment '{deployment}' answered with a malformed {what}", deployment=deployment)


def provider_failed(deployment: str, exc: BaseException) -> UpstreamHTTPError:
    """The provider raised while translating the request or the answer. Which one is not known,
    so the next deployment is tried, but the deployment's breaker is not told: a client's odd
    request must not be able to take a deployment out of service for everyone."""
    err = UpstreamHTTPError(
        f"deployment '{deployment}' could not be used: its provider failed on the request or the answer "
        f"({type(exc).__name__})", deployment=deployment)
    err.blames_deployment = False
    return err


def _count_ok(v: Any) -> bool:
    return v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)


def _usage_ok(usage: Any) -> bool:
    return usage is None or (isinstance(usage, dict) and _count_ok(usage.get("prompt_tokens"))
                             and _count_ok(usage.get("completion_tokens")))


def _content_ok(part: Any, key: str) -> bool:
    """A choice whose ``message`` (or ``delta``) is absent, or a dict with text-like content."""
    if not isinstance(part, dict):
        return False
    inner = part.get(key)
    if inner is None:
        return True
    if not isinstance(inner, dict):
        return False
    content = inner.get("content")
    return content is None or isinstance(content, (str, list))


def checked_completion(deployment: str, data: Any) -> dict[str, Any]:
    if not (isinstance(data, dict) and isinstance(choices := data.get("choices"), list)
            and all(_content_ok(c, "message") for c in choices) and _usage_ok(data.get("usage"))):
        raise malformed(deployment)
    return data


def checked_chunk(deployment: str, chunk: Any) -> dict[str, Any]:
    # "choices": null is read as none, as every reader of chunks did before this check.
    if not (isinstance(chunk, dict) and isinstance(choices := chunk.get("choices") or [], list)
            and all(_content_ok(c, "delta") for c in choices) and _usage_ok(chunk.get("usage"))):
        raise malformed(deployment, "stream event")
    return chunk
