"""Applications written against other SDKs use the gateway too: anthropic, mistralai, and the
openai SDK's Responses and Embeddings APIs. Same pipeline, same headers, same fakes."""

from __future__ import annotations

import anthropic
import openai
import pytest
from mistralai.client import Mistral

from tests.gateway.conftest import ThreeTier


def test_anthropic_sdk_messages(tt: ThreeTier) -> None:
    c = anthropic.Anthropic(base_url=tt.gw.url, api_key=tt.key, max_retries=0)
    raw = c.messages.with_raw_response.create(
        model="auto", max_tokens=50, system="Be brief.", messages=[{"role": "user", "content": "Bonjour"}])
    msg = raw.parse()
    assert msg.content[0].type == "text" and msg.content[0].text == "Petite réponse."
    assert msg.usage.input_tokens == 11 and msg.usage.output_tokens == 7
    assert raw.headers["x-aiguillage-model"] == "eu-small"
    sent = tt.small.requests[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."} and sent["max_tokens"] == 50


def test_anthropic_sdk_streaming_and_x_api_key(tt: ThreeTier) -> None:
    c = anthropic.Anthropic(base_url=tt.gw.url, api_key="unused", max_retries=0,
                            default_headers={"x-api-key": tt.key, "Authorization": ""})
    with c.messages.stream(model="auto", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Petite réponse."
    assert final.usage.output_tokens == 7 and final.stop_reason == "end_turn"


def test_anthropic_sdk_errors_are_typed(tt: ThreeTier) -> None:
    c = anthropic.Anthropic(base_url=tt.gw.url, api_key=tt.key, max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        c.messages.create(model="claude-nope", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=tt.gw.url, api_key="bad", max_retries=0).messages.create(
            model="auto", max_tokens=5, messages=[{"role": "user", "content": "x"}])


def test_openai_responses_api(tt: ThreeTier) -> None:
    c = openai.OpenAI(base_url=tt.gw.url + "/v1", api_key=tt.key, max_retries=0)
    r = c.responses.create(model="auto", input="Bonjour", instructions="Be brief.")
    assert r.output_text == "Petite réponse."
    assert r.usage is not None and r.usage.output_tokens == 7
    events = list(c.responses.create(model="auto", input="Bonjour", stream=True))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Petite réponse."
    assert events[-1].type == "response.completed"


def test_mistralai_sdk(tt: ThreeTier) -> None:
    with Mistral(api_key=tt.key, server_url=tt.gw.url) as m:
        r = m.chat.complete(model="onprem-medium", messages=[{"role": "user", "content": "Salut"}])
        assert r.choices[0].message.content == "Mittlere Antwort."
        chunks = list(m.chat.stream(model="onprem-medium", messages=[{"role": "user", "content": "Salut"}]))
        assert "".join(ch.data.choices[0].delta.content or "" for ch in chunks if ch.data.choices) == \
            "Mittlere Antwort."


def test_embeddings_go_to_a_deployment_that_embeds(tt: ThreeTier) -> None:
    c = openai.OpenAI(base_url=tt.gw.url + "/v1", api_key=tt.key, max_retries=0)
    raw = c.embeddings.with_raw_response.create(model="auto", input=["eins", "zwei"])
    e = raw.parse()
    assert [len(x.embedding) for x in e.data] == [3, 3]
    assert raw.headers["x-aiguillage-model"] == "onprem-medium"  # eu-small has no embeddings capability
    assert tt.small.requests == []
    assert tt.medium.requests[-1]["json"]["input"] == ["eins", "zwei"]
    with pytest.raises(openai.BadRequestError):
        c.embeddings.create(model="auto", input=[])


def test_malformed_anthropic_requests_are_400_in_anthropic_format(tt: ThreeTier) -> None:
    import httpx

    for bad in ({"metadata": "me"}, {"stop_sequences": "STOP"}, {"messages": "hi"}):
        body = {"model": "auto", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], **bad}
        r = httpx.post(tt.gw.url + "/v1/messages", json=body, headers={"x-api-key": tt.key})
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
