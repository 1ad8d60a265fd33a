"""The CLI edges, through typer's runner, against a temporary $AIGUILLAGE_HOME (the embedded default)."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import orjson
import sqlalchemy as sa
import yaml
from records import fill, roll_back_to, tree_state
from typer.testing import CliRunner

from aiguillage.audit import AuditLog
from aiguillage.audit.tables import entries
from aiguillage.cli.audit import app as audit_app
from aiguillage.cli.gdpr import app as gdpr_app
from aiguillage.cli.report import app as report_app

runner = CliRunner()


def _default_log() -> AuditLog:
    return AuditLog.open(None)


def test_verify_exit_codes_and_first_bad_entry(home: Path) -> None:
    log = _default_log()
    fill(log, 12)
    ok = runner.invoke(audit_app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "intact: 12 entries" in ok.output
    with log.db.engine.begin() as conn:
        conn.execute(sa.update(entries).where(entries.c.seq == 7).values(tenant="evil"))
    bad = runner.invoke(audit_app, ["verify"])
    assert bad.exit_code == 1
    assert "entry #7" in bad.output


def test_prove_public_key_and_offline_check(home: Path, tmp_path: Path) -> None:
    log = _default_log()
    ids = fill(log, 9)
    res = runner.invoke(audit_app, ["prove", ids[4]])
    assert res.exit_code == 0, res.output
    proof = json.loads(res.output)
    assert proof["leaf_index"] == 4 and proof["tree_size"] == 9
    pem = runner.invoke(audit_app, ["public-key"]).output
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "proof.json").write_text(res.output)
    (tmp_path / "pub.pem").write_text(pem)
    check = runner.invoke(
        audit_app, ["check-proof", str(tmp_path / "proof.json"), "--public-key", str(tmp_path / "pub.pem")]
    )
    assert check.exit_code == 0 and "included" in check.output
    proof["audit_path"][0] = "00" * 32
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    forged = runner.invoke(
        audit_app, ["check-proof", str(tmp_path / "proof.json"), "--public-key", str(tmp_path / "pub.pem")]
    )
    assert forged.exit_code == 1
    assert runner.invoke(audit_app, ["prove", "nope"]).exit_code == 1
    # verify against the exported key works; against another key fails
    assert runner.invoke(audit_app, ["verify", "--public-key", str(tmp_path / "pub.pem")]).exit_code == 0


def test_export_period_jsonl_and_csv(home: Path, tmp_path: Path) -> None:
    log = _default_log()
    fill(log, 3, received_at=1_700_000_000.0)  # 2023-11-14
    fill(log, 2, received_at=time.time())
    res = runner.invoke(
        audit_app, ["export", "--since", "2023-11-14", "--until", "2023-11-15", "--format", "jsonl"]
    )
    assert res.exit_code == 0, res.output
    lines = [orjson.loads(x) for x in res.output.splitlines()]
    assert len(lines) == 3 and all(x["event"]["usage"]["prompt_tokens"] == 12 for x in lines)
    out = tmp_path / "all.csv"
    res = runner.invoke(audit_app, ["export", "--format", "csv", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 5
    assert rows[0]["chosen_jurisdiction"] == "on_prem" and rows[0]["personal_data"] == "EMAIL:1"
    assert rows[0]["received_at"].startswith("2023-11-14")
    assert runner.invoke(audit_app, ["export", "--format", "xml"]).exit_code == 2


def test_gdpr_erase_and_retention_commands(home: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "models": [{"id": "m", "provider": "local", "tier": "small"}],
                "default_policy": {"store_content": True},
            }
        )
    )
    log = AuditLog.open(cfg)
    ids = fill(log, 4, subject="carol", content=True)
    assert log.get_content(ids[0]) is not None
    # Subjects are scoped by tenant: the command insists on knowing whose subject it is.
    res = runner.invoke(gdpr_app, ["erase", "--subject", "carol", "--config", str(cfg)])
    assert res.exit_code == 2 and "--tenant" in res.output and "--all-tenants" in res.output
    both = runner.invoke(gdpr_app, ["erase", "--subject", "carol", "--tenant", "acme", "--all-tenants"])
    assert both.exit_code == 2
    res = runner.invoke(gdpr_app, ["erase", "--subject", "carol", "--tenant", "acme", "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert "4 stored text(s)" in res.output and "tenant 'acme'" in res.output
    again = fill(log, 2, tenant="acme", subject="carol", content=True)
    res = runner.invoke(gdpr_app, ["erase", "--subject", "carol", "--all-tenants", "--config", str(cfg)])
    assert res.exit_code == 0 and "every tenant" in res.output and "2 stored text(s)" in res.output, res.output
    assert log.get_content(again[0]) is None
    # A tenant the log and the config have never heard of is most likely a typo: said, and logged.
    typo = runner.invoke(gdpr_app, ["erase", "--subject", "carol", "--tenant", "acmee", "--config", str(cfg)])
    assert typo.exit_code == 0 and "warning: tenant 'acmee'" in typo.output
    assert "warning" not in runner.invoke(
        gdpr_app, ["erase", "--subject", "carol", "--tenant", "acme", "--config", str(cfg)]).output
    assert log.get_content(ids[0]) is None
    ret = runner.invoke(audit_app, ["retention"])
    assert ret.exit_code == 0 and json.loads(ret.output)["metadata_pruned"] == 0
    assert runner.invoke(audit_app, ["checkpoint"]).exit_code == 0
    assert runner.invoke(audit_app, ["verify"]).exit_code == 0


def test_report_processing_from_config(home: Path, tmp_path: Path) -> None:
    cfg = {
        "models": [
            {
                "id": "mistral-eu",
                "provider": "mistral",
                "tier": "large",
                "jurisdiction": "fr",
                "data_retention": "30 days",
            },
            {"id": "gpt-us", "provider": "openai", "tier": "large", "jurisdiction": "us"},
            {"id": "local-small", "provider": "local", "tier": "small", "jurisdiction": "on_prem"},
        ],
        "tenants": {"hospital": {"allowed_jurisdictions": ["fr", "on_prem"], "store_content": True}},
        "audit": {"metadata_retention_days": 200, "content_retention_days": 14},
    }
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = runner.invoke(
        report_app,
        [
            "processing",
            "--config",
            str(path),
            "--out",
            str(tmp_path / "r"),
            "--controller",
            "Clinique Exemple, dpo@example.org",
        ],
    )
    assert res.exit_code == 0, res.output
    md = (tmp_path / "r" / "processing.md").read_text()
    html = (tmp_path / "r" / "processing.html").read_text()
    assert "| mistral-eu | mistral |" in md and "none: within the EU/EEA" in md
    assert "gpt-us" in md and "Art. 46(2)(c)" in md
    assert "at least 200 days" in md and "stored for hospital" in md and "after 14 days" in md
    assert "Clinique Exemple" in md
    assert "<table>" in html and "<td>mistral-eu</td>" in html
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: 3\n")
    assert runner.invoke(report_app, ["processing", "--config", str(bad)]).exit_code == 2


def test_head_then_verify_with_witnesses(home: Path, tmp_path: Path) -> None:
    log = _default_log()
    ids = fill(log, 10)
    at_10 = tree_state(log)
    (tmp_path / "proof.json").write_text(runner.invoke(audit_app, ["prove", ids[3]]).output)  # a proof's head counts too
    fill(log, 5)
    saved = runner.invoke(audit_app, ["head"])
    assert saved.exit_code == 0 and json.loads(saved.output)["size"] == 15, saved.output
    (tmp_path / "head.json").write_text(saved.output)
    args = ["verify", "--witness", str(tmp_path / "head.json"), "--witness", str(tmp_path / "proof.json")]
    ok = runner.invoke(audit_app, args)
    assert ok.exit_code == 0, ok.output
    roll_back_to(log, at_10)  # back to the copy of 10 entries: genuinely signed, just older
    assert runner.invoke(audit_app, ["verify"]).exit_code == 0  # nothing in the database tells
    caught = runner.invoke(audit_app, args)
    assert caught.exit_code == 1 and "witnessed head at tree size 15" in caught.output, caught.output
    for junk in ("{}", "[]", '"x"', "not json"):
        (tmp_path / "junk.json").write_text(junk)
        res = runner.invoke(audit_app, ["verify", "--witness", str(tmp_path / "junk.json")])
        assert res.exit_code == 2 and "not a saved head" in res.output, (junk, res.output)


def test_csv_export_quotes_cells_a_spreadsheet_would_run(home: Path, tmp_path: Path) -> None:
    log = _default_log()
    fill(log, 2, tenant="=HYPERLINK(\"http://x\")")
    fill(log, 1, tenant="@SUM(A1)")
    out = tmp_path / "all.csv"
    assert runner.invoke(audit_app, ["export", "--format", "csv", "--out", str(out)]).exit_code == 0
    tenants = [r["tenant"] for r in csv.DictReader(io.StringIO(out.read_text()))]
    assert tenants == ["'=HYPERLINK(\"http://x\")"] * 2 + ["'@SUM(A1)"]
