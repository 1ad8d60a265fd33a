"""The learned router: trained on synthetic outcomes, served through build_router."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from aiguillage.config import Deployment, Price, RouterSpec
from aiguillage.routing import ArtifactError, LearnedRouter, RouteInput, build_router
from aiguillage.routing.artifact import save_artifact
from aiguillage.routing.learned import train_learned
from aiguillage.routing.outcomes import OutcomeTable

EASY = ["What is the capital of {c}?", "Say hello to {c}.", "Translate 'cat' for a friend in {c}.",
        "What colour is the sky in {c}?"]
HARD = ["Prove that for every prime p > 3 the number p^2 - 1 is divisible by 24, and generalise to {c} "
        "with a rigorous argument, computing 17 * 23 = ? and the integral of x^3 sin(x) dx along the way.",
        "Derive the closed form of sum_(k=1)^n k^3 * 2^k, then estimate 1234.5 / 6.78 for {c}; show all steps "
        "and state where the EXCEPT clause of the theorem fails."]
PLACES = [f"place{i}" for i in range(60)]


def synthetic_table() -> OutcomeTable:
    prompts, small, large = [], [], []
    for i, c in enumerate(PLACES):
        prompts += [t.format(c=c) for t in EASY]
        small += [1.0, 1.0, 1.0, 1.0 if i % 5 else 0.0]
        large += [1.0] * 4
        prompts += [t.format(c=c) for t in HARD]
        small += [0.0, 0.0 if i % 7 else 1.0]
        large += [1.0, 0.8]  # a score in [0, 1], learned as a soft label
    return OutcomeTable(prompts, {"small-model": np.array(small), "big-model": np.array(large)},
                        sources=["synthetic"] * len(prompts))


def dep(id_: str, tier: str, price: str) -> Deployment:
    return Deployment(id=id_, provider="openai", tier=tier, price_eur_per_mtok=Price(input=Decimal(price),
                                                                                       output=Decimal(price)))


CATALOG = [dep("local-small", "small", "0.1"), dep("mid", "medium", "2"), dep("big-model", "large", "10")]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    meta, model = train_learned(synthetic_table())
    path = tmp_path_factory.mktemp("art") / "learned.router"
    save_artifact(path, meta, model)
    return path


def test_easy_prompt_goes_small_hard_prompt_goes_large(artifact: Path) -> None:
    spec = RouterSpec(strategy="learned", artifact=str(artifact), quality_target=0.95,
                      column_map={"small-model": "local-small"})
    router = build_router(spec, CATALOG)
    assert isinstance(router, LearnedRouter)
    easy = router.rank(RouteInput("What is the capital of Norway?", 10, 50), CATALOG)
    hard = router.rank(RouteInput(HARD[0].format(c="Norway"), 60, 500), CATALOG)
    assert easy.order[0].id == "local-small"
    assert hard.order[0].id != "local-small"
    p_easy = {c["id"]: c["predicted_success"] for c in easy.details["candidates"]}
    p_hard = {c["id"]: c["predicted_success"] for c in hard.details["candidates"]}
    assert p_easy["local-small"] > p_hard["local-small"] + 0.3
    assert set(easy.details) >= {"candidates", "threshold", "quality_target", "top_features"}
    assert hard.details["top_features_for"] == "local-small"
    assert any(f["effect"] < 0 for f in hard.details["top_features"]), "what pushes the small model down"
    json.dumps(hard.details)  # JSON-able
    assert easy.version == router.version and len(router.version) == 12
    assert "cheapest" in easy.reason and "estimated from their tier" in easy.reason


def test_uncovered_deployment_is_interpolated_between_tiers(artifact: Path) -> None:
    spec = RouterSpec(strategy="learned", artifact=str(artifact), column_map={"small-model": "local-small"})
    ranking = build_router(spec, CATALOG).rank(RouteInput("Say hello to Oslo.", 8, 20), CATALOG)
    cand = {c["id"]: c for c in ranking.details["candidates"]}
    assert cand["mid"]["estimate"] == "interpolated between tiers"
    lo, hi = sorted([cand["local-small"]["predicted_success"], cand["big-model"]["predicted_success"]])
    assert lo <= cand["mid"]["predicted_success"] <= hi


def test_threshold_override_tolerated_loss(artifact: Path) -> None:
    # threshold = the predicted loss tolerated against the best candidate: 0 keeps only the best.
    spec = RouterSpec(strategy="learned", artifact=str(artifact), threshold=0.0,
                      column_map={"small-model": "local-small"})
    ranking = build_router(spec, CATALOG).rank(RouteInput("Say hello to Oslo.", 8, 20), CATALOG)
    assert ranking.details["threshold"] == 0.0
    assert "highest predicted success" in ranking.reason and ranking.order[0].id != "local-small"
    probs = [c["predicted_success"] for c in ranking.details["candidates"]]
    assert probs == sorted(probs, reverse=True)
    # Tolerating any loss: the cheapest eligible deployment first, then by cost.
    spec = RouterSpec(strategy="learned", artifact=str(artifact), threshold=1.0,
                      column_map={"small-model": "local-small"})
    ranking = build_router(spec, CATALOG).rank(RouteInput(HARD[0].format(c="Oslo"), 60, 500), CATALOG)
    assert [d.id for d in ranking.order] == ["local-small", "mid", "big-model"]
    assert "cheapest" in ranking.reason


def test_loss_thresholds_on_a_hand_computed_table() -> None:
    from aiguillage.routing.thresholds import loss_thresholds, route_by_loss

    # Columns cheapest first. Row 0: the small model is as good as the large -> small at any tau.
    probs = np.array([[0.9, 0.9], [0.5, 0.9], [0.7, 0.8], [0.2, 0.3]])
    assert route_by_loss(probs, 0.0).tolist() == [0, 1, 1, 1]
    assert route_by_loss(probs, 0.1).tolist() == [0, 1, 0, 0]
    assert route_by_loss(probs, 0.4).tolist() == [0, 0, 0, 0]
    outcomes = np.array([[1, 1], [0, 1], [1, 1], [0, 0]], dtype=float)  # best model: 0.75
    th = loss_thresholds(probs, outcomes)
    # Quality 0.75 (= 100% of the best) needs row 1 escalated: tau < 0.4, the largest such is kept.
    assert 0.1 <= th[1.0] < 0.4
    assert route_by_loss(probs, th[1.0]).tolist() == [0, 1, 0, 0]
    # 2/3 of the best (0.5) is met with everything on the small model.
    assert th[0.66] >= 0.4


def test_artifact_of_the_older_learned_format_is_refused(tmp_path: Path) -> None:
    meta, model = train_learned(synthetic_table())
    old = tmp_path / "old.router"
    save_artifact(old, {k: v for k, v in meta.items() if k != "decision"}, model)
    with pytest.raises(ArtifactError, match="retrain"):
        build_router(RouterSpec(strategy="learned", artifact=str(old), column_map={"small-model": "local-small"}),
                     CATALOG)


def test_tree_ensemble_predicts_what_scikit_learn_predicts() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from aiguillage.routing.trees import TreeEnsemble

    rng = np.random.default_rng(0)
    x = rng.random((2000, 6))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.random(2000) * 0.5 > 1.0).astype(int)
    x[::40, 3] = np.nan  # missing values follow the split's learned side
    clf = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=7, random_state=0).fit(x, y)
    trees = TreeEnsemble(clf)
    xt = rng.random((300, 6))
    xt[::9, 3] = np.nan
    want = clf.predict_proba(xt)[:, 1]
    np.testing.assert_allclose(trees.predict(xt), want, atol=1e-12)
    np.testing.assert_allclose([trees.predict_one(r) for r in xt], want, atol=1e-12)


def test_wrong_strategy_and_missing_artifact_name_the_fix(artifact: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="--strategy cascade"):
        build_router(RouterSpec(strategy="cascade", artifact=str(artifact)), CATALOG)
    with pytest.raises(ArtifactError, match="router train"):
        build_router(RouterSpec(strategy="learned", artifact=str(tmp_path / "nope")), CATALOG)
    with pytest.raises(ArtifactError, match="column_map"):
        build_router(RouterSpec(strategy="learned", artifact=str(artifact)), CATALOG[:2])
    bad = tmp_path / "tampered.router"
    data = bytearray(artifact.read_bytes())
    data[-200] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ArtifactError):
        build_router(RouterSpec(strategy="learned", artifact=str(bad)), CATALOG)


def test_cheapest_needs_no_artifact() -> None:
    ranking = build_router(RouterSpec(), CATALOG).rank(RouteInput("hi", 1, 1), CATALOG)
    assert ranking.order[0].id == "local-small" and ranking.strategy == "cheapest"


def test_serving_fast_path_matches_scikit_learn(artifact: Path) -> None:
    from aiguillage.routing.artifact import load_artifact

    _, model = load_artifact(artifact)
    prompts = ["What is the capital of Oslo?", HARD[1].format(c="Oslo"), "", "zzz qqq 42 = 6 * 7"]
    slow = model.predict(prompts)
    fast = np.vstack([model.fast().predict(p)[0] for p in prompts])
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    x = model.featurizer.transform([prompts[1]])
    row = model.fast().predict(prompts[1])[1]
    assert model.fast().explain(row, 0, model.explain_names()) == model.explain_x(x, model.columns[0])
