"""Every vendor's failures surface as the right typed error from aiguillage.errors."""

from __future__ import annotations

import pytest

from aiguillage.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamRateLimited,
    UpstreamRejected,
)
from tests.providers.harness import KINDS, collect, run, running


def failure(kind: str, status: int, retry_after: str | None = None, stream: bool = False) -> UpstreamError:
    async def go() -> UpstreamError:
        async with running(kind) as (provider, fake):
            fake.fail_next(status, retry_after)
            body = {"model": provider.upstream_model, "messages": [{"role": "user", "content": "Salut"}]}
            with pytest.raises(UpstreamError) as info:
                if stream:
                    await collect(provider, body)
                else:
                    await provider.complete(body)
            assert len(fake.requests) == 1
            return info.value
    return run(go())


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_400_is_rejected_and_not_retried(kind: str, stream: bool) -> None:
    err = failure(kind, 400, stream=stream)
    assert type(err) is UpstreamRejected and err.retryable is False and err.upstream_status == 400
    assert "simulated 400" in err.message, "the vendor's own error message is kept"


@pytest.mark.parametrize("kind", KINDS)
def test_401_is_a_gateway_credential_problem(kind: str) -> None:
    err = failure(kind, 401)
    assert type(err) is UpstreamHTTPError and err.upstream_status == 401 and err.retryable is True


@pytest.mark.parametrize("kind", KINDS)
def test_429_carries_retry_after(kind: str) -> None:
    err = failure(kind, 429, retry_after="7")
    assert isinstance(err, UpstreamRateLimited) and err.retry_after == 7.0 and err.retryable


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_500_is_retryable_upstream_error(kind: str, stream: bool) -> None:
    err = failure(kind, 500, stream=stream)
    assert type(err) is UpstreamHTTPError and err.upstream_status == 500 and err.retryable


@pytest.mark.parametrize("kind", KINDS)
def test_error_inside_stream(kind: str) -> None:
    async def go() -> tuple[list[dict], UpstreamError]:
        async with running(kind) as (provider, fake):
            fake.fail_stream()
            got: list[dict] = []
            with pytest.raises(UpstreamError) as info:
                async for chunk in provider.stream({"model": provider.upstream_model,
                                                    "messages": [{"role": "user", "content": "Salut"}]}):
                    got.append(chunk)
            return got, info.value
    got, err = run(go())
    assert type(err) is UpstreamHTTPError and err.retryable
    assert "mid-stream" in err.message or "ERROR" in err.message
    assert not any(c["choices"] and c["choices"][0].get("finish_reason") for c in got), "no clean finish was faked"


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "ollama"])
def test_wrong_key_is_refused_by_the_vendor(kind: str) -> None:
    async def go() -> UpstreamError:
        async with running(kind, api_key="sk-wrong") as (provider, _fake):
            with pytest.raises(UpstreamError) as info:
                await provider.complete({"model": provider.upstream_model, "messages": [{"role": "user", "content": "x"}]})
            return info.value
    err = run(go())
    assert err.upstream_status == 401


@pytest.mark.parametrize("kind", KINDS)
def test_unreachable_vendor(kind: str) -> None:
    async def go() -> None:
        async with running(kind) as (provider, fake):
            await fake.stop()
            with pytest.raises(UpstreamConnectError):
                await provider.complete({"model": provider.upstream_model, "messages": [{"role": "user", "content": "x"}]})
    run(go())


def test_azure_needs_an_endpoint() -> None:
    from aiguillage.config import ConfigError, Deployment, Timeouts
    from aiguillage.providers.azure_openai import AzureOpenAIProvider

    with pytest.raises(ConfigError, match="needs base_url"):
        AzureOpenAIProvider(Deployment(id="az", provider="azure_openai", tier="small"), None, Timeouts())


@pytest.mark.parametrize("kind", ["anthropic", "cohere", "ollama"])
def test_truncated_stream_is_an_error_not_a_short_answer(kind: str) -> None:
    async def go() -> UpstreamError:
        async with running(kind) as (provider, fake):
            fake.truncate_stream = True
            with pytest.raises(UpstreamError) as info:
                await collect(provider, {"model": provider.upstream_model,
                                         "messages": [{"role": "user", "content": "Salut"}]})
            return info.value
    err = run(go())
    assert type(err) is UpstreamHTTPError and "ended the stream" in err.message
