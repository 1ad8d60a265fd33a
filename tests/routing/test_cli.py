"""Train/eval round trip through the CLI on a slice of the shared GSM8K outcomes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiguillage.cli.router import app
from aiguillage.routing.outcomes import load_contaminated

from .conftest import DATA, STRONG, WEAK, write_csv

CONFIG = f"""
models:
  - {{id: "{WEAK}", provider: local, tier: small, price_eur_per_mtok: {{input: 0.5, output: 0.5}}}}
  - {{id: gpt4-eu, provider: azure_openai, tier: large, price_eur_per_mtok: {{input: 10, output: 30}}}}
tenants:
  acme:
    router: {{strategy: cascade, column_map: {{"{STRONG}": gpt4-eu}}}}
"""
CONTAMINATED = DATA / "gsm8k_contaminated_prompts.jsonl"


@pytest.fixture(scope="module")
def slice_csv(tmp_path_factory: pytest.TempPathFactory, gsm8k_rows: list[dict[str, str]]) -> Path:
    return write_csv(tmp_path_factory.mktemp("data") / "gsm8k_slice.csv", gsm8k_rows[:160])


@pytest.mark.parametrize("strategy", ["learned", "cascade"])
def test_train_then_eval_round_trip(strategy: str, slice_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    art = tmp_path / f"{strategy}.router"
    res = runner.invoke(app, ["train", str(slice_csv), "--out", str(art), "--strategy", strategy,
                              "--contaminated", str(CONTAMINATED)])
    assert res.exit_code == 0, res.output
    assert art.stat().st_size > 0

    cfg = tmp_path / "gw.yaml"
    cfg.write_text(CONFIG)
    scores, png = tmp_path / "scores.csv", tmp_path / "curve.png"
    res = runner.invoke(app, ["eval", str(art), str(slice_csv), "--weak", WEAK, "--strong", STRONG,
                              "--scores-out", str(scores), "--config", str(cfg), "--json", "--plot", str(png),
                              "--contaminated", str(CONTAMINATED)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["strategy"] == strategy and len(out["router_version"]) == 12
    for key in ("apgr", "cpt50", "cpt80", "strong_share_for_95pct_quality", "cost_saving_vs_strong_at_95pct_quality"):
        assert isinstance(out[key], float)
    assert 0 <= out["cpt80"] <= 1 and -1 < out["cost_saving_vs_strong_at_95pct_quality"] < 1
    assert out["cost_counts_weak_call_on_every_request"] is (strategy == "cascade")

    with slice_csv.open(newline="", encoding="utf-8") as fh:
        prompts = [r["prompt"] for r in csv.DictReader(fh)]
    with scores.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["prompt"] for r in rows] == prompts  # every input row, prompt unchanged
    assert all(0 <= float(r["score"]) <= 1 for r in rows)
    if strategy == "learned":
        # The router's own score (chance the strong answer beats the weak one) plus the predicted
        # probability that the weak answer fails; both higher where the weak model did fail.
        assert all(0 <= float(r["weak_fails"]) <= 1 for r in rows)
        with slice_csv.open(newline="", encoding="utf-8") as fh:
            weak_ok = [r[WEAK].strip().lower() in ("true", "1", "1.0") for r in csv.DictReader(fh)]
        for col in ("score", "weak_fails"):
            failed = [float(r[col]) for r, ok in zip(rows, weak_ok) if not ok]
            passed = [float(r[col]) for r, ok in zip(rows, weak_ok) if ok]
            assert sum(failed) / len(failed) > sum(passed) / len(passed), col
    else:
        assert set(rows[0]) == {"prompt", "score"}
    dropped = sum(p in load_contaminated([CONTAMINATED]) for p in prompts)
    assert dropped > 0 and out["n"] == len(prompts) - dropped
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_human_output_and_clear_errors(slice_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    art = tmp_path / "l.router"
    assert runner.invoke(app, ["train", str(slice_csv), "--out", str(art)]).exit_code == 0
    res = runner.invoke(app, ["eval", str(art), str(slice_csv), "--weak", WEAK, "--strong", STRONG,
                              "--scores-out", str(tmp_path / "s.csv")])
    assert res.exit_code == 0 and "apgr: " in res.stdout and "cpt80: " in res.stdout
    res = runner.invoke(app, ["eval", str(art), str(slice_csv), "--weak", "nope", "--strong", STRONG,
                              "--scores-out", str(tmp_path / "s.csv")])
    assert res.exit_code == 2 and "no outcome column 'nope'" in res.output
    res = runner.invoke(app, ["train", str(slice_csv), "--out", str(art), "--strategy", "magic"])
    assert res.exit_code != 0
