"""The ``cascade`` strategy: try the cheapest candidate, verify its answer, escalate if needed.

The verifier is a logistic regression over answer features (``answer_features.py``) and the
prompt's hand features, trained on the ``<model>_response`` columns to predict that the answer
is wrong. Its score is an escalation score in [0, 1]; the gateway moves to the next candidate
when ``score >= threshold`` (equivalently: the answer's estimated quality ``1 - score`` is below
``1 - threshold``). The threshold comes from the tenant's quality target (derived on
out-of-fold scores of the training data) unless ``RouterSpec.threshold`` sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from aiguillage.config import TIER_RANK, Deployment, RouterSpec
from aiguillage.routing.answer_features import answer_features
from aiguillage.routing.base import Ranking, RouteInput, by_cost, expected_cost
from aiguillage.routing.features import hand_features
from aiguillage.routing.outcomes import OutcomeTable
from aiguillage.routing.thresholds import DEFAULT_TARGET, escalation_thresholds, pick

Progress = Callable[[str], None]


def _row(prompt: str, answer: str) -> list[float]:
    return answer_features(prompt, answer) + hand_features(prompt)


class AnswerModel:
    """Picklable: the fitted pipeline that turns (prompt, answer) into P(answer is wrong)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def scores(self, prompts: list[str], answers: list[str]) -> np.ndarray:
        x = np.asarray([_row(p, a) for p, a in zip(prompts, answers)], dtype=float)
        return self.pipeline.predict_proba(x)[:, 1]

    def score_one(self, prompt: str, answer: str) -> float:
        """Same as ``scores`` for one pair, without scikit-learn's per-call validation overhead."""
        scaler, clf = self.pipeline[0], self.pipeline[-1]
        z = (np.asarray(_row(prompt, answer)) - scaler.mean_) / scaler.scale_ @ clf.coef_[0] + clf.intercept_[0]
        return float(1 / (1 + np.exp(-z)))


class AnswerVerifier:
    """The ``Verifier`` a cascade ranking carries: escalate when ``score(prompt, answer) >= threshold``."""

    def __init__(self, model: AnswerModel, threshold: float, version: str) -> None:
        self.model = model
        self.threshold = threshold
        self.version = version

    def score(self, prompt: str, answer: str) -> float:
        return self.model.score_one(prompt, answer)

    def escalate(self, prompt: str, answer: str) -> tuple[bool, float]:
        s = self.score(prompt, answer)
        return s >= self.threshold, s


def _fit(prompts: list[str], answers: list[str], wrong: np.ndarray, c: float) -> AnswerModel:
    x = np.asarray([_row(p, a) for p, a in zip(prompts, answers)], dtype=float)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    pipe.fit(x, wrong)
    return AnswerModel(pipe)


def _training_rows(table: OutcomeTable) -> tuple[list[str], list[str], np.ndarray, str, str]:
    """Pool the answers of every column with texts except the best model's (when others exist)."""
    means = {c: float(np.nanmean(v)) for c, v in table.outcomes.items()}
    with_text = [c for c in table.columns if c in table.responses]
    if not with_text:
        table.response(table.columns[0])  # raises the error that names the missing column
    best = max(means, key=lambda c: means[c])
    weakest = min(means, key=lambda c: means[c])
    use = [c for c in with_text if c != best] or with_text
    prompts, answers, wrong = [], [], []
    for c in use:
        y = table.outcomes[c]
        for i in np.flatnonzero(~np.isnan(y)):
            prompts.append(table.prompts[i])
            answers.append(table.responses[c][i])
            wrong.append(y[i] < 0.5)
    return prompts, answers, np.asarray(wrong, dtype=int), weakest, best


def fit_answer_model(table: OutcomeTable, c: float = 0.1) -> AnswerModel:
    """The verifier alone (no thresholds), e.g. for cross-validated benchmarks."""
    p, a, y, _, _ = _training_rows(table)
    return _fit(p, a, y, c)


def train_cascade(
    table: OutcomeTable, c: float = 0.1, folds: int = 5, progress: Progress | None = None
) -> tuple[dict[str, Any], AnswerModel]:
    if len(table) < 20:
        raise ValueError(f"only {len(table)} rows: the cascade verifier needs at least 20 outcome rows")
    prompts, answers, wrong, weakest, best = _training_rows(table)
    if weakest not in table.responses:
        raise ValueError(f"the weakest column '{weakest}' has no '{weakest}_response' texts to set the threshold")
    # Out-of-fold scores of the weakest model's answers, split by row (question), for the thresholds.
    oof = np.zeros(len(table))
    idx = np.arange(len(table))
    for i, (tr, te) in enumerate(KFold(n_splits=folds, shuffle=True, random_state=0).split(idx)):
        if progress:
            progress(f"fold {i + 1}/{folds}")
        m = fit_answer_model(table.subset(tr), c)
        oof[te] = m.scores([table.prompts[j] for j in te], [table.responses[weakest][j] for j in te])
    if progress:
        progress("final model")
    model = _fit(prompts, answers, wrong, c)
    meta = {
        "strategy": "cascade",
        "columns": table.columns,
        "column_means": {k: float(np.nanmean(v)) for k, v in table.outcomes.items()},
        "rows": len(table),
        "weak_column": weakest,
        "strong_column": best,
        "thresholds": escalation_thresholds(oof, table.outcomes[weakest], table.outcomes[best]),
        "default_target": DEFAULT_TARGET,
    }
    return meta, model


def cascade_order(eligible: list[Deployment], request: RouteInput) -> list[Deployment]:
    """The cheapest first, then upward by tier (cost within a tier): each step is an escalation."""
    cost = by_cost(eligible, request)
    first, rest = cost[0], cost[1:]
    return [first, *sorted(rest, key=lambda d: TIER_RANK[d.tier])]  # stable: cost order within a tier


class CascadeRouter:
    strategy: ClassVar[str] = "cascade"

    def __init__(self, meta: dict[str, Any], model: AnswerModel, spec: RouterSpec) -> None:
        self.version = str(meta["version"])
        self.target = spec.quality_target if spec.quality_target is not None else meta["default_target"]
        self.threshold = spec.threshold if spec.threshold is not None else pick(meta["thresholds"], self.target)
        self.verifier = AnswerVerifier(model, self.threshold, self.version)

    def rank(self, request: RouteInput, eligible: list[Deployment]) -> Ranking:
        if not eligible:
            raise ValueError("no eligible deployment to rank")
        order = cascade_order(eligible, request)
        first = order[0]
        if len(order) == 1:
            reason = f"'{first.id}' is the only eligible deployment: its answer is returned without verification"
        else:
            reason = (f"cascade: try '{first.id}' (cheapest of {len(order)} eligible) first and escalate to "
                      f"'{order[1].id}' if the verifier's score of its answer is >= {self.threshold:.2f}")
        return Ranking(
            order=order,
            strategy=self.strategy,
            version=self.version,
            reason=reason,
            details={
                "candidates": [
                    {"id": d.id, "tier": d.tier,
                     "expected_cost_eur": str(expected_cost(d, request.prompt_tokens, request.max_output_tokens))}
                    for d in order
                ],
                "threshold": self.threshold,
                "quality_target": self.target,
                "escalate_when": "verifier score >= threshold",
            },
            verifier=self.verifier if len(order) > 1 else None,
        )
