"""Tenant policies enforced through the real gateway, proven from the fake upstreams' own logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

IBAN = "DE89 3704 0044 0532 0130 00"
EMAIL = "anna.schmidt@example.de"
PROMPT = f"Bitte überweisen Sie den Betrag auf {IBAN} und bestätigen Sie an {EMAIL}. Vielen Dank für Ihre Hilfe."


def echo(body: dict) -> str:
    return "Echo: " + body["messages"][-1]["content"]


class Env:
    def __init__(self, tmp: Path) -> None:
        self.eu = FakeOpenAI("eu").start()
        self.onprem = FakeOpenAI("onprem").start()
        self.us = FakeOpenAI("us").start()
        cfg = catalog(
            openai_deployment("eu-small", self.eu.url, "small", "eu", ("0.1", "0.1")),
            openai_deployment("onprem-medium", self.onprem.url, "medium", "on_prem", ("1", "1")),
            openai_deployment("us-large", self.us.url, "large", "us", ("10", "10"), languages=["en"]),
            default_policy={"allowed_jurisdictions": ["on_prem", "eu", "us"]},
            tenants={
                "bank": {"allowed_jurisdictions": ["on_prem", "eu"], "personal_data": "local_only"},
                "strict": {"personal_data": "block"},
                "pseudo": {"allowed_jurisdictions": ["eu"], "personal_data": "pseudonymize"},
                "ids": {"personal_data": "allow", "personal_data_overrides": {"IBAN": "local_only"}},
                "euonly": {"allowed_jurisdictions": ["eu"]},
            },
        )
        self.gw = GatewayProcess(tmp, cfg, workers=1).start()
        self.keys = {t: self.gw.key(t) for t in ("bank", "strict", "pseudo", "ids", "euonly", "nobody")}

    def fakes(self) -> list[FakeOpenAI]:
        return [self.eu, self.onprem, self.us]

    def client(self, tenant: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gw.url + "/v1", api_key=self.keys[tenant], max_retries=0)

    def all_sent_text(self) -> dict[str, str]:
        return {f.name: "\n".join(str(r["json"]) for r in f.requests) for f in self.fakes()}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("sov"))
    yield e
    e.gw.stop()
    for f in e.fakes():
        f.stop()


@pytest.fixture(autouse=True)
def _reset(env: Env) -> None:
    for f in env.fakes():
        f.reset()
        f.answer_for = echo


def test_local_only_keeps_personal_data_on_prem(env: Env) -> None:
    raw = env.client("bank").chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": PROMPT}])
    assert raw.headers["x-aiguillage-model"] == "onprem-medium"
    assert "IBAN=1" in raw.headers["x-aiguillage-pii"] and "action=local_only" in raw.headers["x-aiguillage-pii"]
    assert env.eu.requests == [] and env.us.requests == []
    # Without personal data the same tenant gets the cheapest eligible deployment.
    raw = env.client("bank").chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Wie ist das Wetter heute in Berlin?"}])
    assert raw.headers["x-aiguillage-model"] == "eu-small"


def test_local_only_never_falls_back_off_prem(env: Env) -> None:
    env.onprem.default = "500"
    r = httpx.post(env.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {env.keys['bank']}"},
                   json={"messages": [{"role": "user", "content": PROMPT}]}, timeout=30)
    assert r.status_code == 502
    assert len(env.onprem.requests) >= 1
    assert env.eu.requests == [] and env.us.requests == []


def test_block_names_types_never_values(env: Env) -> None:
    r = httpx.post(env.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {env.keys['strict']}"},
                   json={"messages": [{"role": "user", "content": PROMPT}]}, timeout=30)
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "personal_data_blocked"
    assert "IBAN" in err["message"] and "EMAIL" in err["message"]
    assert IBAN not in r.text and EMAIL not in r.text and "0532" not in r.text
    assert all(not f.requests for f in env.fakes())


def test_pseudonymize_round_trip(env: Env) -> None:
    r = env.client("pseudo").chat.completions.create(model="auto", messages=[{"role": "user", "content": PROMPT}])
    sent = env.eu.requests[-1]["json"]["messages"][-1]["content"]
    assert IBAN not in sent and EMAIL not in sent and "[IBAN_1]" in sent and "[EMAIL_1]" in sent
    assert r.choices[0].message.content == "Echo: " + PROMPT


def test_pseudonymize_round_trip_streamed_with_split_placeholders(env: Env) -> None:
    stream = env.client("pseudo").chat.completions.create(
        model="auto", messages=[{"role": "user", "content": PROMPT}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Echo: " + PROMPT  # the fake streams 4-character pieces, splitting every placeholder
    assert IBAN not in str(env.eu.requests[-1]["json"])


def test_per_type_override(env: Env) -> None:
    raw = env.client("ids").chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": PROMPT}])
    assert raw.headers["x-aiguillage-model"] == "onprem-medium"
    raw = env.client("ids").chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": f"Antwort bitte an {EMAIL} senden, danke schön."}])
    assert raw.headers["x-aiguillage-model"] == "eu-small"


def test_no_eligible_deployment_names_each_constraint(env: Env) -> None:
    r = httpx.post(env.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {env.keys['euonly']}"},
                   json={"model": "us-large", "messages": [{"role": "user", "content": "Hello there, how are you?"}]},
                   timeout=30)
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "no_eligible_deployment"
    assert "us-large" in err["message"] and "jurisdiction" in err["message"]
    assert err["details"]["candidates"]["us-large"].startswith("jurisdiction:")
    assert env.us.requests == []


def test_language_excludes_deployment(env: Env) -> None:
    # us-large only speaks English: a German prompt may not go there even when asked for the large tier.
    r = httpx.post(env.gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {env.keys['nobody']}"},
                   json={"model": "large", "messages": [{"role": "user", "content":
                         "Könnten Sie mir bitte erklären, wie die Kündigungsfrist bei meinem Vertrag berechnet wird?"}]},
                   timeout=30)
    assert r.status_code == 400
    assert "language" in r.json()["error"]["message"]
    raw = env.client("nobody").chat.completions.with_raw_response.create(
        model="large", messages=[{"role": "user", "content": "Could you please explain how the notice period works?"}])
    assert raw.headers["x-aiguillage-model"] == "us-large"


def test_personal_data_in_tool_call_arguments_is_inspected_and_redacted(env: Env) -> None:
    messages = [
        {"role": "user", "content": "Bitte die Überweisung vorbereiten, danke."},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "transfer", "arguments": f'{{"iban": "{IBAN}", "to": "{EMAIL}"}}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    ]
    raw = env.client("bank").chat.completions.with_raw_response.create(model="auto", messages=messages)
    assert raw.headers["x-aiguillage-model"] == "onprem-medium"  # local_only applies to the tool call too
    assert "IBAN=1" in raw.headers["x-aiguillage-pii"]
    env.client("pseudo").chat.completions.create(model="auto", messages=messages)
    sent = env.eu.requests[-1]["json"]["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert IBAN not in sent and EMAIL not in sent and "[IBAN_1]" in sent
