"""The official openai SDK against a running gateway (real sockets, fake upstreams)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway.conftest import ThreeTier
from tests.support import GatewayProcess, catalog, free_port, openai_deployment


def client(tt: ThreeTier, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=tt.gw.url + "/v1", api_key=key or tt.key, max_retries=0, timeout=20)


def test_auto_picks_cheapest_and_reports_exact_cost(tt: ThreeTier) -> None:
    raw = client(tt).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Hallo, wie geht's?"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Petite réponse."
    assert raw.headers["x-aiguillage-model"] == "eu-small"
    # The fake reports 11 prompt and 7 completion tokens; eu-small costs 0.2 / 0.6 EUR per Mtok.
    expected = (Decimal("0.2") * 11 + Decimal("0.6") * 7) / Decimal(1_000_000)
    assert Decimal(raw.headers["x-aiguillage-cost-eur"]) == expected
    assert len(raw.headers["x-aiguillage-decision"]) == 32
    assert float(raw.headers["x-aiguillage-overhead-ms"]) >= 0
    assert completion.usage is not None and completion.usage.total_tokens == 18
    assert [r["json"]["model"] for r in tt.small.requests] == ["eu-small-upstream"]
    assert tt.medium.requests == [] and tt.large.requests == []


def test_upstream_cookies_are_never_sent_back(tmp_path: Path) -> None:
    # A cookie an upstream sets while answering one tenant must not ride along on the next
    # tenant's request. The upstream is named by host name: aiohttp's default jar ignores
    # cookies from IP addresses, and others may too, so 127.0.0.1 might not show the leak.
    up = FakeOpenAI("cookies").start()
    up.default = "cookie"
    gw = GatewayProcess(tmp_path, catalog(openai_deployment(
        "eu-small", up.url.replace("127.0.0.1", "localhost"), "small", "eu", ("0.2", "0.6"))), workers=1).start()
    try:
        keys = [gw.key("acme"), gw.key("globex")]
        for i in range(4):
            c = openai.OpenAI(base_url=gw.url + "/v1", api_key=keys[i % 2], max_retries=0, timeout=20)
            assert c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}]).choices
    finally:
        gw.stop()
        up.stop()
    assert len(up.requests) == 4
    assert [r["headers"].get("Cookie") for r in up.requests] == [None] * 4


def test_proxy_settings_in_the_environment_are_not_used_for_upstreams(tmp_path: Path) -> None:
    # An HTTP(S)_PROXY meant for the operator's shell must not divert (or, dead, break) the
    # gateway's calls to its upstreams: the catalog's base_url is where the prompts go.
    up = FakeOpenAI("direct").start()
    dead = f"http://127.0.0.1:{free_port()}"
    env = {name: dead for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")}
    env.update(NO_PROXY="", no_proxy="")
    gw = GatewayProcess(tmp_path, catalog(openai_deployment(
        "eu-small", up.url.replace("127.0.0.1", "localhost"), "small", "eu", ("0.2", "0.6"))), workers=1,
        env=env).start()
    try:
        c = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key("acme"), max_retries=0, timeout=20)
        assert c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}]).choices
    finally:
        gw.stop()
        up.stop()
    assert len(up.requests) == 1


def test_tier_and_deployment_id_select_the_deployment(tt: ThreeTier) -> None:
    c = client(tt)
    raw = c.chat.completions.with_raw_response.create(model="large", messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-aiguillage-model"] == "us-large"
    raw = c.chat.completions.with_raw_response.create(model="onprem-medium",
                                                      messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-aiguillage-model"] == "onprem-medium"
    assert raw.parse().choices[0].message.content == "Mittlere Antwort."


def test_parameters_pass_through(tt: ThreeTier) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    client(tt).chat.completions.create(
        model="onprem-medium", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}],
        temperature=0.3, top_p=0.9, stop=["\n\n"], seed=7, max_completion_tokens=33,
        response_format={"type": "json_object"}, tools=tools, tool_choice="auto")
    sent = tt.medium.requests[-1]["json"]
    assert sent["temperature"] == 0.3 and sent["top_p"] == 0.9 and sent["stop"] == ["\n\n"]
    assert sent["seed"] == 7 and sent["max_completion_tokens"] == 33
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert tt.medium.requests[-1]["headers"]["Authorization"] == "Bearer sk-up"


def test_tools_skip_a_deployment_without_them(tt: ThreeTier) -> None:
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    raw = client(tt).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "x"}], tools=tools)
    assert raw.headers["x-aiguillage-model"] == "onprem-medium"  # eu-small lacks tools


def test_streaming_with_usage(tt: ThreeTier) -> None:
    stream = client(tt).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "stream please"}], stream=True,
        stream_options={"include_usage": True})
    text, usage = "", None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "Petite réponse."
    assert usage is not None and usage.prompt_tokens == 11 and usage.completion_tokens == 7
    assert tt.small.requests[-1]["json"]["stream"] is True


def test_streaming_without_usage_sends_no_usage_chunk(tt: ThreeTier) -> None:
    chunks = list(client(tt).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "x"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Petite réponse."


def test_async_client(tt: ThreeTier) -> None:
    async def run() -> list[str]:
        c = openai.AsyncOpenAI(base_url=tt.gw.url + "/v1", api_key=tt.key, max_retries=0)
        try:
            rs = await asyncio.gather(*(c.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": f"q{i}"}]) for i in range(8)))
            return [r.choices[0].message.content or "" for r in rs]
        finally:
            await c.close()

    assert asyncio.run(run()) == ["Petite réponse."] * 8


def test_usage_counted_when_upstream_omits_it(tt: ThreeTier) -> None:
    tt.small.plan("nousage")
    r = client(tt).chat.completions.create(model="eu-small", messages=[{"role": "user", "content": "abcdefgh"}])
    assert r.usage is not None and r.usage.completion_tokens == len("Petite réponse.") // 4 + 1


def test_models_lists_the_catalog(tt: ThreeTier) -> None:
    ids = [m.id for m in client(tt).models.list()]
    assert ids == ["eu-small", "onprem-medium", "us-large", "auto"]


def test_errors_are_typed_sdk_exceptions(tt: ThreeTier) -> None:
    c = client(tt)
    with pytest.raises(openai.NotFoundError) as nf:
        c.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert nf.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.AuthenticationError):
        client(tt, key="ag-nope-nope").chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as br:
        c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}], temperature=7)
    assert br.value.body["param"] == "temperature"  # type: ignore[index]
    # A good request still works afterwards.
    assert c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "x"}]).choices


def test_request_id_is_kept_or_generated(tt: ThreeTier) -> None:
    raw = client(tt).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "x"}], extra_headers={"x-request-id": "req-42"})
    assert raw.headers["x-request-id"] == "req-42"
    raw = client(tt).chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": "x"}])
    assert len(raw.headers["x-request-id"]) == 32
