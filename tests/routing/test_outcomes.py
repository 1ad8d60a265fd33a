"""The outcome CSV format: booleans, scores, answers, contamination, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiguillage.routing.coverage import column_for
from aiguillage.routing.outcomes import OutcomeFormatError, load_contaminated, load_outcomes

from .conftest import DATA, WEAK


def test_booleans_scores_responses_and_ignored_columns(tmp_path: Path) -> None:
    p = tmp_path / "o.csv"
    p.write_text('id,prompt,a,b,a_response\n7,"x, y",True,0.25,"A says ""hi"""\n8,z,false,,ans\n')
    t = load_outcomes([p])
    assert t.columns == ["a", "b"] and t.prompts == ["x, y", "z"]
    assert t.outcomes["a"].tolist() == [1.0, 0.0]
    assert t.outcomes["b"][0] == 0.25 and np.isnan(t.outcomes["b"][1])
    assert t.response("a") == ['A says "hi"', "ans"]
    with pytest.raises(OutcomeFormatError, match="b_response"):
        t.response("b")


def test_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("question,a\nq,True\n")
    with pytest.raises(OutcomeFormatError, match="no 'prompt' column"):
        load_outcomes([p])
    p.write_text("prompt,a\nq,1.5\n")
    with pytest.raises(OutcomeFormatError, match="no outcome column"):
        load_outcomes([p])
    rows = "".join(f"q{i},True\n" for i in range(250))
    p.write_text(f"prompt,a\n{rows}q,maybe\n")
    with pytest.raises(OutcomeFormatError, match="neither True/False"):
        load_outcomes([p])


def test_shared_mmlu_contamination_is_dropped() -> None:
    files = sorted((DATA / "mmlu").glob("*.csv"))[:45]
    drop = load_contaminated([DATA / "mmlu_contaminated_prompts.jsonl"])
    full, clean = load_outcomes(files), load_outcomes(files, drop)
    assert 0 < len(full) - len(clean) <= len(drop)
    assert not drop & set(clean.prompts) and WEAK in clean.columns
    assert len(set(clean.sources)) == 45


def test_column_map_overrides_same_name_match() -> None:
    assert column_for(["m1", "m2"], {}) == {"m1": "m1", "m2": "m2"}
    assert column_for(["m1", "m2"], {"m1": "dep-a", "zz": "dep-b"}) == {"dep-a": "m1", "m2": "m2"}
