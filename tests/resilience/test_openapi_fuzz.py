"""A seeded schemathesis run against the gateway's own OpenAPI document (the full run with
≥ 2,000 cases is bench/resilience_fuzz.py): no 500s and no answer that breaks the document."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx

from tests.resilience.conftest import Env

CHECKS = "status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"


def test_document_lists_the_served_endpoints(fb: Env) -> None:
    doc = httpx.get(fb.gw.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/v1/chat/completions", "/v1/models", "/healthz", "/metrics", "/openapi.json"} <= set(doc["paths"])
    model = doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]["model"]
    assert set(model["enum"]) == {"auto", "small", "medium", "us-cheap", "eu-primary", "onprem-secondary"}


def test_seeded_fuzz_finds_no_500_and_no_schema_violation(fb: Env, tmp_path: Path) -> None:
    report = tmp_path / "events.ndjson"
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", fb.gw.url + "/openapi.json",
           "--checks", CHECKS, "--max-examples", "8", "--seed", "42", "--mode", "all",
           "-H", f"Authorization: Bearer {fb.keys['acme']}", "--workers", "2", "--request-timeout", "10",
           "--suppress-health-check", "all", "--no-color", "--phases", "coverage,fuzzing",
           "--generation-database", "none", "--report", "ndjson", "--report-ndjson-path", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    statuses: Counter[int] = Counter()
    failures = []
    for line in report.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        rec = finished["recorder"]
        statuses.update(i["response"]["status_code"] for i in (rec.get("interactions") or {}).values()
                        if i.get("response"))
        failures += [c for cs in (rec.get("checks") or {}).values() for c in cs if c["status"] != "success"]
    assert sum(statuses.values()) >= 100, statuses
    assert statuses[500] == 0, proc.stdout[-3000:]
    assert failures == [], proc.stdout[-3000:]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert statuses[200] > 0 and statuses[400] > 0  # reached both the answer and the validation paths
    assert fb.fakes["us"].requests == []  # the fuzzer could name us-cheap; the policy still held
