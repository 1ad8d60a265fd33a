"""Collecting outcomes from live traffic (feedback, shadow mode with a judge, export) and
OpenTelemetry traces of each request's steps."""

from __future__ import annotations

import asyncio
import csv
import threading
import time
from pathlib import Path

import httpx
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, free_port, openai_deployment


def test_feedback_shadow_judge_and_export(tmp_path: Path) -> None:
    small = FakeOpenAI("small", answer="Paris, I think.").start()
    big = FakeOpenAI("big", answer="The capital of France is Paris.").start()
    judge = FakeOpenAI("judge", answer="A=3 B=9").start()
    cfg = catalog(
        openai_deployment("mini", small.url, "small", "on_prem", ("0.1", "0.1")),
        openai_deployment("big", big.url, "large", "eu", ("3", "9")),
        openai_deployment("judge", judge.url, "large", "eu", ("3", "9")),
        openai_deployment("us-judge", judge.url, "large", "us", ("3", "9")),
        tenants={
            "learner": {"collect_outcomes": True, "shadow": {"share": 1.0, "deployment": "big", "judge": "judge"}},
            "guarded": {"allowed_jurisdictions": ["on_prem", "eu"], "collect_outcomes": True,
                        "shadow": {"share": 1.0, "deployment": "big", "judge": "us-judge"}},
        },
    )
    gw = GatewayProcess(tmp_path, cfg).start()
    try:
        key, other, guarded = gw.key("learner"), gw.key("other"), gw.key("guarded")
        ids = []
        for q in ("What is the capital of France?", "What is 2+2?"):
            r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                           json={"model": "mini", "messages": [{"role": "user", "content": q}]}, timeout=30)
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Paris, I think."
            ids.append(r.headers["x-aiguillage-decision"])
        fb = httpx.post(gw.url + "/v1/feedback", headers={"authorization": f"Bearer {key}"},
                        json={"decision_id": ids[0], "score": 1.0})
        assert fb.status_code == 200
        # Feedback is tenant-scoped and validated.
        assert httpx.post(gw.url + "/v1/feedback", headers={"authorization": f"Bearer {other}"},
                          json={"decision_id": ids[0], "score": 1}).status_code == 404
        bad = httpx.post(gw.url + "/v1/feedback", headers={"authorization": f"Bearer {key}"},
                         json={"decision_id": ids[0], "score": 2})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "score"
        # A judge outside the tenant's jurisdictions is never called.
        judge_calls = len(judge.requests)
        httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {guarded}"},
                   json={"model": "mini", "messages": [{"role": "user", "content": "hello"}]}, timeout=30)
        for _ in range(100):  # shadow work runs after the answer
            if len(judge.requests) >= 2 and len(big.requests) >= 3:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        assert len(judge.requests) == judge_calls == 2
        out = tmp_path / "outcomes.csv"
        res = gw.cli("router", "export-outcomes", "--out", str(out), "--tenant", "learner")
        assert res.returncode == 0, res.stderr
        rows = list(csv.DictReader(out.open()))
        assert [r["prompt"] for r in rows] == ["What is the capital of France?", "What is 2+2?"]
        assert float(rows[0]["mini"]) == 1.0  # the application's verdict beats the judge's
        assert float(rows[1]["mini"]) == 0.3 and float(rows[0]["big"]) == 0.9
        assert rows[0]["big_response"] == "The capital of France is Paris."
        prompt_sent_to_judge = judge.requests[0]["json"]["messages"][0]["content"]
        assert "Paris, I think." in prompt_sent_to_judge and "The capital of France is Paris." in prompt_sent_to_judge
    finally:
        gw.stop()
        for f in (small, big, judge):
            f.stop()


def test_shadow_calls_respect_the_circuit_breaker(tmp_path: Path) -> None:
    small = FakeOpenAI("small", answer="Paris.").start()
    big = FakeOpenAI("big").start()
    judge = FakeOpenAI("judge", answer="A=5 B=5").start()
    big.default = "500"  # the shadow deployment is down
    cfg = catalog(
        openai_deployment("mini", small.url, "small", "on_prem", ("0.1", "0.1")),
        openai_deployment("big", big.url, "large", "eu", ("3", "9")),
        openai_deployment("judge", judge.url, "large", "eu", ("3", "9")),
        tenants={"learner": {"collect_outcomes": True, "shadow": {"share": 1.0, "deployment": "big", "judge": "judge"}}},
        resilience={"breaker_failures": 2, "breaker_cooldown_s": 600},
    )
    gw = GatewayProcess(tmp_path, cfg).start()
    try:
        key = gw.key("learner")
        for i in range(6):
            r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                           json={"model": "mini", "messages": [{"role": "user", "content": f"question {i}"}]},
                           timeout=30)
            assert r.status_code == 200  # a failing shadow never touches the client's answer
            time.sleep(0.3)  # let this request's shadow call finish before the next
        # Two failures opened the breaker; the other four shadow calls were never sent.
        assert len(big.requests) == 2
        assert judge.requests == []
        models = httpx.get(gw.url + "/v1/models", headers={"authorization": f"Bearer {key}"}).json()["data"]
        assert {m["id"]: m.get("status") for m in models}["big"] == "unavailable"
    finally:
        gw.stop()
        for f in (small, big, judge):
            f.stop()


class Collector:
    """A fake OTLP/HTTP collector: real HTTP, protobuf bodies."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, str]]] = []
        self.port = free_port()
        ready = threading.Event()

        async def traces(request: web.Request) -> web.Response:
            msg = ExportTraceServiceRequest.FromString(await request.read())
            for rs in msg.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {a.key: a.value.string_value for a in span.attributes}
                        self.spans.append((span.name, attrs))
            return web.Response(status=200)

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/v1/traces", traces)
            runner = web.AppRunner(app)
            self.loop.run_until_complete(runner.setup())
            self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(5)


def test_traces_carry_the_request_id(tmp_path: Path) -> None:
    fake = FakeOpenAI().start()
    collector = Collector()
    cfg = catalog(openai_deployment("eu-small", fake.url), otlp_endpoint=f"http://127.0.0.1:{collector.port}")
    gw = GatewayProcess(tmp_path, cfg).start()
    try:
        key = gw.key("acme")
        r = httpx.post(gw.url + "/v1/chat/completions", timeout=30,
                       headers={"authorization": f"Bearer {key}", "x-request-id": "trace-me-42"},
                       json={"messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 200
        for _ in range(60):
            names = {n for n, a in collector.spans if a.get("aiguillage.request_id") == "trace-me-42"}
            if {"aiguillage.inspect", "aiguillage.policy", "aiguillage.route", "aiguillage.call",
                    "aiguillage.record"} <= names:
                break
            time.sleep(0.1)
        assert {"aiguillage.inspect", "aiguillage.policy", "aiguillage.route", "aiguillage.call",
                "aiguillage.record"} <= names
    finally:
        gw.stop()
        fake.stop()
