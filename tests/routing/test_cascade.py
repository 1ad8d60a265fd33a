"""The cascade: a verifier trained on GSM8K weak answers flags a failing one above threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiguillage.config import Deployment, RouterSpec
from aiguillage.routing import AnswerVerifier, CascadeRouter, RouteInput, build_router
from aiguillage.routing.answer_features import _arith, answer_features
from aiguillage.routing.artifact import save_artifact
from aiguillage.routing.cascade import train_cascade
from aiguillage.routing.outcomes import load_outcomes

from .conftest import DATA, WEAK

QUESTION = ("A baker sells 12 loaves a day at $3 each and 8 cakes a day at $15 each. "
            "How much money does the baker make in 5 days?")
GOOD = ("Loaves: 12 * 3 = <<12*3=36>>36 dollars a day.\nCakes: 8 * 15 = <<8*15=120>>120 dollars a day.\n"
        "Total per day: 36 + 120 = <<36+120=156>>156 dollars.\nIn 5 days: 156 * 5 = <<156*5=780>>780 dollars.\n"
        "#### 780")
BAD = ("Loaves: 12 * 3 = <<12*3=38>>38 dollars a day.\nCakes: 8 * 15 = <<8*15=125>>125 dollars a day.\n"
       "Assuming the total is roughly 38 + 125 = <<38+125=170>>170, approximately it makes about 170 * 5 = 8")

CATALOG = [Deployment(id="weak", provider="local", tier="small"),
           Deployment(id="mid", provider="mistral", tier="medium"),
           Deployment(id="strong", provider="openai", tier="large")]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = load_outcomes([DATA / "gsm8k_responses.csv"])
    meta, model = train_cascade(table.subset(np.arange(500)), folds=3)
    assert meta["weak_column"] == WEAK
    path = tmp_path_factory.mktemp("art") / "cascade.router"
    save_artifact(path, meta, model)
    return path


def test_failing_weak_answer_scores_above_threshold(artifact: Path) -> None:
    router = build_router(RouterSpec(strategy="cascade", artifact=str(artifact), quality_target=0.95), CATALOG)
    assert isinstance(router, CascadeRouter)
    ranking = router.rank(RouteInput(QUESTION, 40, 200), CATALOG)
    v = ranking.verifier
    assert isinstance(v, AnswerVerifier)
    bad, good = v.score(QUESTION, BAD), v.score(QUESTION, GOOD)
    assert bad >= v.threshold > good
    assert v.escalate(QUESTION, BAD)[0] and not v.escalate(QUESTION, GOOD)[0]


def test_order_and_explanation(artifact: Path) -> None:
    router = build_router(RouterSpec(strategy="cascade", artifact=str(artifact), threshold=0.4), CATALOG)
    ranking = router.rank(RouteInput(QUESTION, 40, 200), list(reversed(CATALOG)))
    assert [d.id for d in ranking.order] == ["weak", "mid", "strong"]
    assert ranking.details["threshold"] == 0.4 and ranking.verifier and ranking.verifier.threshold == 0.4
    assert "escalate to 'mid'" in ranking.reason
    only = router.rank(RouteInput(QUESTION, 40, 200), CATALOG[2:])
    assert only.verifier is None and only.order[0].id == "strong"


def test_arithmetic_checker_is_a_parser_not_eval() -> None:
    assert _arith("2+3*4") == 14
    assert _arith("(2+3)*4/5") == 4
    assert _arith("__import__('os')") is None
    f = dict(zip(("annotations", "annotation_errors"), answer_features(QUESTION, BAD)[9:11]))
    assert f["annotation_errors"] > 0
    assert answer_features(QUESTION, GOOD)[10] == 0


def test_verifier_fast_path_matches_pipeline(artifact: Path, gsm8k_rows: list[dict[str, str]]) -> None:
    from aiguillage.routing.artifact import load_artifact

    _, model = load_artifact(artifact)
    rows = gsm8k_rows[600:620]
    prompts, answers = [r["prompt"] for r in rows], [r[f"{WEAK}_response"] for r in rows]
    np.testing.assert_allclose([model.score_one(p, a) for p, a in zip(prompts, answers)],
                               model.scores(prompts, answers), atol=1e-9)
