"""`aiguillage pii scan`: the JSONL contract, through typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from aiguillage.cli.pii import app

LINES = [
    {"id": "a", "text": "Sehr geehrte Frau Anna Schmidt, bitte auf DE89 3704 0044 0532 0130 00 überweisen."},
    {"id": 7, "text": "Rechnung RE-2024-004711 über 120,00 €."},
    {"id": "c", "text": "Écrivez à jean.dupont@example.fr ou appelez le 01 42 68 53 00."},
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _check_output(out: Path) -> None:
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", 7, "c"]
    for row, src in zip(rows, LINES):
        assert set(row) == {"id", "entities"}
        for e in row["entities"]:
            assert set(e) == {"start", "end", "type", "subtype", "score"}
            assert 0 <= e["start"] < e["end"] <= len(src["text"])
    a, b, c = rows
    spans = {(e["type"], LINES[0]["text"][e["start"] : e["end"]]) for e in a["entities"]}
    assert spans == {("PERSON", "Anna Schmidt"), ("IBAN", "DE89 3704 0044 0532 0130 00")}
    assert next(e for e in a["entities"] if e["type"] == "IBAN")["subtype"] == "DE"
    assert b["entities"] == []
    assert {e["type"] for e in c["entities"]} == {"EMAIL", "PHONE"}


def test_scan_writes_one_line_per_input_with_character_offsets(tmp_path):
    src = _write(tmp_path / "in.jsonl", LINES)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["scan", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    _check_output(out)


def test_no_context_option_skips_names(tmp_path):
    src = _write(tmp_path / "in.jsonl", LINES[:1])
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["scan", str(src), "--out", str(out), "--no-context"])
    assert result.exit_code == 0, result.output
    types = [e["type"] for e in json.loads(out.read_text())["entities"]]
    assert types == ["IBAN"]


def test_bad_line_is_reported_with_its_number(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "ok"}\n{"id": 2}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["scan", str(src), "--out", str(tmp_path / "out.jsonl")])
    assert result.exit_code != 0
    assert "in.jsonl:2" in result.output and '"text"' in result.output


def test_runs_as_a_module(tmp_path):
    src = _write(tmp_path / "in.jsonl", LINES)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "aiguillage.cli.pii", "scan", str(src), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "scanned 3 lines, 2 with personal data" in proc.stderr
    _check_output(out)
