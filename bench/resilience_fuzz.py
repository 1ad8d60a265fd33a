"""Fuzz the gateway against its own OpenAPI document with schemathesis.

Starts a fake upstream and ``aiguillage serve``, then runs the schemathesis CLI (positive and
negative generation) with the checks status_code_conformance, content_type_conformance,
response_headers_conformance and response_schema_conformance, and counts the generated cases
and the 500 answers from schemathesis' NDJSON event report.

    .venv/bin/python bench/resilience_fuzz.py --max-examples 600 --seed 42
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from resilience_common import REPO, Fakes, GatewayUnderTest

# not_a_server_error is left out on purpose: it flags every 5xx, and a 504 for a 1 ms
# x-aiguillage-deadline-ms is correct. 500s are counted from the report instead.
CHECKS = "status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"


def fuzz_config(fakes: Fakes) -> dict:
    dep = {"provider": "openai", "api_key": "sk", "price_eur_per_mtok": {"input": "0.1", "output": "0.3"}}
    return {"models": [
        {**dep, "id": "eu-small", "base_url": fakes.url("up"), "model": "m", "tier": "small", "jurisdiction": "eu"},
        {**dep, "id": "onprem-large", "base_url": fakes.url("up"), "model": "m", "tier": "large",
         "jurisdiction": "on_prem", "max_concurrency": 4, "queue_size": 8}],
        "resilience": {"backoff_base_s": 0.0, "timeouts": {"connect": 1, "first_token": 2, "idle": 2, "total": 5}}}


def summarize(ndjson: Path) -> dict:
    statuses: Counter[str] = Counter()
    per_operation: dict[str, Counter[str]] = {}
    failures: list[str] = []
    cases = 0
    for line in ndjson.read_text().splitlines():
        event = json.loads(line)
        for kind, body in event.items():
            if kind != "ScenarioFinished":
                continue
            recorder = body.get("recorder") or {}
            for inter in (recorder.get("interactions") or {}).values():
                resp = inter.get("response")
                if resp is not None:
                    cases += 1
                    statuses[str(resp.get("status_code"))] += 1
                    per_operation.setdefault(recorder.get("label", "?"), Counter())[str(resp.get("status_code"))] += 1
            for check_list in (recorder.get("checks") or {}).values():
                for check in check_list:
                    if check.get("status") != "success":
                        info = (check.get("failure_info") or {}).get("failure") or {}
                        failures.append(f"{check.get('name')}: {info.get('title')}: {info.get('message')}"[:300])
    return {"cases": cases, "statuses": dict(statuses), "status_500": statuses.get("500", 0),
            "per_operation": {op: dict(c) for op, c in per_operation.items()},
            "check_failures": len(failures), "failure_samples": failures[:10]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-examples", type=int, default=600)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    fakes = Fakes(["up:0,0,0"])
    gw = GatewayUnderTest(fuzz_config(fakes), workers=1)
    report = Path(gw.home) / "events.ndjson"
    try:
        cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", gw.url + "/openapi.json",
               "--checks", CHECKS, "--max-examples", str(args.max_examples), "--seed", str(args.seed),
               "--mode", "all", "-H", f"Authorization: Bearer {gw.key}", "--workers", "2",
               "--request-timeout", "20", "--suppress-health-check", "all", "--no-color",
               "--report", "ndjson", "--report-ndjson-path", str(report), "--phases", "examples,coverage,fuzzing"]
        t = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        took = time.monotonic() - t
        tail = proc.stdout[-4000:]
    finally:
        gw.stop()
        fakes.stop()
    out = {"exit_code": proc.returncode, "seconds": round(took, 1), "seed": args.seed,
           "max_examples_per_operation": args.max_examples, **summarize(report)}
    print(tail)
    print(json.dumps(out, indent=2))
    if args.out:
        args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
