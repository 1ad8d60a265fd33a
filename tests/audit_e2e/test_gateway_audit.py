"""The audit trail through the real gateway: decisions served to their tenant only, durable
before acknowledgement (kill -9 under load), content stored only when asked, erasable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment


def audit_cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "aiguillage", *args]
    if gw.config_path is not None:
        cmd += ["--config", str(gw.config_path)]
    return subprocess.run(cmd, env=gw.env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def fake() -> FakeOpenAI:
    f = FakeOpenAI("eu").start()
    yield f
    f.stop()


def test_decision_record_explains_and_is_tenant_isolated(tmp_path: Path, fake: FakeOpenAI) -> None:
    cfg = catalog(openai_deployment("eu-small", fake.url, "small", "eu"),
                  openai_deployment("us-large", fake.url, "large", "us", ("5", "15")),
                  tenants={"acme": {"allowed_jurisdictions": ["eu"], "personal_data": "local_only"}})
    gw = GatewayProcess(tmp_path, cfg).start()
    try:
        acme, other = gw.key("acme"), gw.key("other")
        r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {acme}"},
                       json={"messages": [{"role": "user", "content": "Wie spät ist es in Berlin?"}]}, timeout=30)
        assert r.status_code == 200
        did = r.headers["x-aiguillage-decision"]
        rec = httpx.get(gw.url + f"/v1/decisions/{did}", headers={"authorization": f"Bearer {acme}"}).json()
        assert rec["decision_id"] == did and rec["tenant"] == "acme" and rec["status"] == 200
        assert rec["chosen"] == {"id": "eu-small", "provider": "openai", "tier": "small", "jurisdiction": "eu"}
        assert rec["router"]["strategy"] == "cheapest" and "cheapest" in rec["router"]["reason"]
        by_id = {c["id"]: c for c in rec["candidates"]}
        assert by_id["us-large"]["eligible"] is False and by_id["us-large"]["excluded_by"].startswith("jurisdiction")
        assert rec["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
        assert rec["prompt_hmac"] and rec["answer_hmac"] and "Berlin" not in json.dumps(rec)
        assert rec["key_id"] == acme.split("-")[1] and acme not in json.dumps(rec)
        assert r.json()["aiguillage"]["ai_generated"] is True
        # Another tenant cannot read it; an unknown id is a clean 404.
        assert httpx.get(gw.url + f"/v1/decisions/{did}", headers={"authorization": f"Bearer {other}"}).status_code == 404
        assert httpx.get(gw.url + "/v1/decisions/nope", headers={"authorization": f"Bearer {acme}"}).status_code == 404
        # An admin key (keys create --admin) reads any tenant's decisions and usage; others get 403.
        admin = gw.key("ops", admin=True, via_cli=True)
        seen = httpx.get(gw.url + f"/v1/decisions/{did}", headers={"authorization": f"Bearer {admin}"})
        assert seen.status_code == 200 and seen.json()["tenant"] == "acme"
        usage = httpx.get(gw.url + "/v1/usage", params={"tenant": "acme"}, headers={"authorization": f"Bearer {admin}"})
        assert usage.status_code == 200 and usage.json()["requests"] == 1 and set(usage.json()["by_tenant"]) == {"acme"}, usage.text
        denied = httpx.get(gw.url + "/v1/usage", params={"tenant": "acme"}, headers={"authorization": f"Bearer {other}"})
        assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
        own = httpx.get(gw.url + "/v1/usage", params={"tenant": "acme"}, headers={"authorization": f"Bearer {acme}"})
        assert own.status_code == 200 and own.json()["requests"] == 1
        out = audit_cli(gw, "audit", "verify")
        assert out.returncode == 0, out.stdout + out.stderr
        proof = audit_cli(gw, "audit", "prove", did)
        assert proof.returncode == 0 and did in proof.stdout
    finally:
        gw.stop()


def test_kill_9_under_load_loses_no_acknowledged_request(tmp_path: Path, fake: FakeOpenAI) -> None:
    cfg = catalog(openai_deployment("eu-small", fake.url, "small", "eu"))
    gw = GatewayProcess(tmp_path, cfg, workers=2).start()
    key = gw.key("acme")
    acked: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                try:
                    r = c.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                               json={"messages": [{"role": "user", "content": "x"}], "stream": len(acked) % 2 == 0})
                except httpx.HTTPError:
                    continue
                if r.status_code == 200 and r.text.rstrip().endswith(("[DONE]", "}")):
                    acked.append(r.headers["x-aiguillage-decision"])

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    assert gw.proc is not None
    os.killpg(gw.proc.pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(15)
    gw.proc.wait(10)
    assert len(acked) > 50
    # Every acknowledged request has its event, and the log verifies after the crash.
    from aiguillage.audit import AuditLog
    from aiguillage.config import load_settings
    from aiguillage.store.db import Database

    os.environ["AIGUILLAGE_HOME"] = str(tmp_path)
    try:
        settings = load_settings(gw.config_path)
        log = AuditLog(Database(f"sqlite:///{tmp_path / 'aiguillage.db'}"), settings)
        missing = [d for d in acked if log.get_decision(d, "acme") is None]
        assert missing == []
    finally:
        os.environ.pop("AIGUILLAGE_HOME", None)
    out = audit_cli(gw, "audit", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    gw.start()  # restarts on the same store and keeps serving
    try:
        r = httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                       json={"messages": [{"role": "user", "content": "x"}]}, timeout=30)
        assert r.status_code == 200
    finally:
        gw.stop()
    assert audit_cli(gw, "audit", "verify").returncode == 0


def test_content_stored_only_when_asked_and_erasable(tmp_path: Path, fake: FakeOpenAI) -> None:
    cfg = catalog(openai_deployment("eu-small", fake.url, "small", "eu"),
                  tenants={"keeper": {"store_content": True}})
    gw = GatewayProcess(tmp_path, cfg).start()
    try:
        keeper, plain = gw.key("keeper"), gw.key("plain")
        ids = {}
        for tenant, key in (("keeper", keeper), ("plain", plain)):
            r = httpx.post(gw.url + "/v1/chat/completions",
                           headers={"authorization": f"Bearer {key}", "x-aiguillage-subject": f"patient-{tenant}"},
                           json={"messages": [{"role": "user", "content": f"secret of {tenant}"}]}, timeout=30)
            ids[tenant] = r.headers["x-aiguillage-decision"]
    finally:
        gw.stop()
    from aiguillage.audit import AuditLog
    from aiguillage.config import load_settings
    from aiguillage.store.db import Database

    os.environ["AIGUILLAGE_HOME"] = str(tmp_path)
    try:
        log = AuditLog(Database(f"sqlite:///{tmp_path / 'aiguillage.db'}"), load_settings(gw.config_path))
        assert log.get_content(ids["keeper"]) == {"prompt": "secret of keeper", "answer": fake.answer}
        assert log.get_content(ids["plain"]) is None
        raw = (tmp_path / "aiguillage.db").read_bytes()
        assert b"secret of keeper" not in raw  # encrypted at rest
        out = audit_cli(gw, "gdpr", "erase", "--subject", "patient-keeper", "--tenant", "keeper")
        assert out.returncode == 0, out.stderr
        assert log.get_content(ids["keeper"]) is None
    finally:
        os.environ.pop("AIGUILLAGE_HOME", None)
    assert audit_cli(gw, "audit", "verify").returncode == 0
