"""The ``learned`` strategy: predict, per deployment, the chance its answer is good enough.

Per outcome column, two models over the prompt features (see ``features.py``) and the mean of
their probabilities: a logistic regression over the hand features and the TF-IDF n-grams, and
gradient-boosted trees over the hand features alone (``trees.py``). The trees catch interactions
of the subject-independent signals (length x numbers x question shape) that carry over to
subjects the training data never covered; averaging the two gained more on held-out MMLU domains
than either alone (docs/benchmarks.md).

At serving time the router picks the cheapest eligible deployment whose predicted success is
within the threshold of the best eligible deployment's (the *predicted loss* of settling for it),
the threshold being derived from the tenant's quality target; the rest follow as fallbacks (the
other deployments within the threshold by cost, then the others by predicted success). Ranking
by predicted loss rather than by the cheap model's own predicted success matters: a prompt both
models are likely to fail gains nothing from escalation. Scores in [0, 1] are learned as soft
labels (each row counted as a success with weight ``score`` and as a failure with weight
``1 - score``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold

from aiguillage.config import Deployment, RouterSpec
from aiguillage.routing.base import Ranking, RouteInput, by_cost, expected_cost
from aiguillage.routing.coverage import column_for, predicted_success
from aiguillage.routing.fastpath import FastScorer
from aiguillage.routing.features import PromptFeaturizer
from aiguillage.routing.outcomes import OutcomeTable
from aiguillage.routing.thresholds import DEFAULT_TARGET, loss_thresholds, pick
from aiguillage.routing.trees import TreeEnsemble

Progress = Callable[[str], None]
# How the thresholds in the artifact's metadata are applied; an artifact without it is refused.
DECISION = "predicted loss against the best eligible deployment"


class PromptSuccessModel:
    """Featurizer + per outcome column a logistic regression and a tree ensemble; picklable."""

    def __init__(self, featurizer: PromptFeaturizer, columns: list[str], classifiers: list[LogisticRegression],
                 trees: list[TreeEnsemble]):
        self.featurizer = featurizer
        self.columns = columns
        self.classifiers = classifiers
        self.trees = trees
        self._names: list[str] | None = None
        self._fast: FastScorer | None = None

    def predict(self, prompts: list[str]) -> np.ndarray:
        """Success probability, rows x columns."""
        dense = self.featurizer.dense(prompts)
        x = self.featurizer.transform(prompts, dense)
        linear = np.column_stack([c.predict_proba(x)[:, 1] for c in self.classifiers])
        trees = np.column_stack([t.predict(dense) for t in self.trees])
        return (linear + trees) / 2

    def explain_x(self, x: Any, column: str, k: int = 3) -> list[dict[str, Any]]:
        """The features of one transformed prompt moving ``column``'s predicted success most in the
        linear model (effect < 0: towards failure), strongest first."""
        clf = self.classifiers[self.columns.index(column)]
        row = x.tocsr()
        contrib = row.data * clf.coef_[0][row.indices]
        top = np.argsort(-np.abs(contrib))[:k]
        names = self.explain_names()
        return [{"feature": names[row.indices[i]], "effect": round(float(contrib[i]), 3)} for i in top]

    def explain_names(self) -> list[str]:
        if self._names is None:
            self._names = self.featurizer.feature_names
        return self._names

    def fast(self) -> FastScorer:
        fast = getattr(self, "_fast", None)
        if fast is None:
            fast = self._fast = FastScorer(self)
        return fast

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_names": None, "_fast": None}


def _soft(y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with a known outcome, each as a success with weight y and a failure with weight 1 - y."""
    keep = ~np.isnan(y)
    rows, ys = np.flatnonzero(keep), y[keep]
    if len(ys) == 0 or ys.min() == ys.max():
        raise ValueError(f"outcome column '{name}' has the same value on every row: nothing to learn; "
                         "drop the column or add prompts where the model's outcome differs")
    both = np.concatenate([rows, rows])
    labels = np.concatenate([np.ones(len(ys)), np.zeros(len(ys))])
    weights = np.concatenate([ys, 1 - ys])
    nz = weights > 0
    return both[nz], labels[nz], weights[nz]


def _fit_linear(x: Any, y: np.ndarray, c: float, name: str) -> LogisticRegression:
    rows, labels, weights = _soft(y, name)
    clf = LogisticRegression(C=c, solver="liblinear", max_iter=500)
    clf.fit(x[rows], labels, sample_weight=weights)
    return clf


def _fit_trees(dense: np.ndarray, y: np.ndarray, name: str) -> TreeEnsemble:
    rows, labels, weights = _soft(y, name)
    # Small, shallow and strongly regularised: the trees should learn broad difficulty patterns
    # (what generalises to unseen subjects), not single prompts. A leaf needs 5% of the rows
    # (at most 100).
    clf = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.05, max_leaf_nodes=7, l2_regularization=1.0,
        min_samples_leaf=int(min(100, max(5, len(rows) // 20))), early_stopping=False, random_state=0,
    )
    clf.fit(dense[rows], labels, sample_weight=weights)
    return TreeEnsemble(clf)


def fit_prompt_model(table: OutcomeTable, c: float = 0.3) -> PromptSuccessModel:
    feat = PromptFeaturizer().fit(table.prompts)
    dense = feat.dense(table.prompts)
    x = feat.transform(table.prompts, dense)
    cols = table.columns
    return PromptSuccessModel(
        feat, cols,
        [_fit_linear(x, table.outcomes[col], c, col) for col in cols],
        [_fit_trees(dense, table.outcomes[col], col) for col in cols],
    )


def _folds(table: OutcomeTable, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped by source file when there are several (e.g. MMLU domains), so the thresholds are
    chosen on predictions for data unlike the training folds, as serving will be."""
    idx = np.arange(len(table))
    groups = table.sources if len(set(table.sources)) >= k else None
    if groups is not None:
        return list(GroupKFold(n_splits=k).split(idx, groups=groups))
    return list(KFold(n_splits=k, shuffle=True, random_state=0).split(idx))


def train_learned(
    table: OutcomeTable, c: float = 0.3, folds: int = 3, progress: Progress | None = None
) -> tuple[dict[str, Any], PromptSuccessModel]:
    """Fit on all rows; thresholds for each quality target from out-of-fold predictions."""
    if len(table) < 20:
        raise ValueError(f"only {len(table)} rows: the learned router needs at least 20 outcome rows")
    cols = table.columns
    means = {col: float(np.nanmean(table.outcomes[col])) for col in cols}
    order = sorted(cols, key=lambda col: means[col])  # weaker first: the cheaper-first proxy
    oof = np.zeros((len(table), len(cols)))
    for i, (tr, te) in enumerate(_folds(table, folds)):
        if progress:
            progress(f"fold {i + 1}/{folds}")
        m = fit_prompt_model(table.subset(tr), c)
        oof[te] = m.predict([table.prompts[j] for j in te])
    if progress:
        progress("final model")
    model = fit_prompt_model(table, c)
    ix = [cols.index(col) for col in order]
    outcomes = np.column_stack([table.outcomes[col] for col in order])
    meta = {
        "strategy": "learned",
        "columns": cols,
        "column_means": means,
        "rows": len(table),
        "decision": DECISION,
        "thresholds": loss_thresholds(oof[:, ix], outcomes),
        "default_target": DEFAULT_TARGET,
    }
    return meta, model


class LearnedRouter:
    strategy: ClassVar[str] = "learned"

    def __init__(self, meta: dict[str, Any], model: PromptSuccessModel, spec: RouterSpec,
                 catalog: list[Deployment]) -> None:
        if meta.get("decision") != DECISION or not hasattr(model, "trees"):
            raise ValueError("this learned artifact was trained by an older version (its thresholds mean "
                             "something else); retrain it with 'aiguillage router train ... --strategy learned'")
        self.version = str(meta["version"])
        self.model = model
        model.explain_names()  # resolve the feature names now, not on the first request
        self.fast = model.fast()
        self.target = spec.quality_target if spec.quality_target is not None else meta["default_target"]
        self.threshold = spec.threshold if spec.threshold is not None else pick(meta["thresholds"], self.target)
        self.dep_to_col = column_for(model.columns, spec.column_map)
        ids = {d.id: d for d in catalog}
        self.tier_of_column = {c: ids[d].tier for d, c in self.dep_to_col.items() if d in ids}
        if not self.tier_of_column:
            raise ValueError(
                f"none of the artifact's outcome columns ({', '.join(model.columns)}) names a catalog "
                "deployment; map them with router.column_map: {column: deployment_id}"
            )

    def rank(self, request: RouteInput, eligible: list[Deployment]) -> Ranking:
        if not eligible:
            raise ValueError("no eligible deployment to rank")
        probs, row = self.fast.predict(request.prompt)
        by_col = {c: float(p) for c, p in zip(self.model.columns, probs) if c in self.tier_of_column}
        p, how = predicted_success(eligible, by_col, self.dep_to_col, self.tier_of_column)
        cost_order = by_cost(eligible, request)
        best = max(p.values())
        # Settle for a deployment when its predicted success is within the threshold of the best one's.
        meeting = [d for d in cost_order if best - p[d.id] <= self.threshold + 1e-12]
        rest = sorted((d for d in cost_order if best - p[d.id] > self.threshold + 1e-12), key=lambda d: -p[d.id])
        order = meeting + rest
        first = order[0]
        # Explain the cheapest deployment the model covers: the decision hinges on it.
        pivot = next((d for d in cost_order if self.dep_to_col.get(d.id) in by_col), None)
        names = self.model.explain_names()
        top = self.fast.explain(row, self.model.columns.index(self.dep_to_col[pivot.id]), names) if pivot else []
        if len(meeting) == 1 and first is not cost_order[0]:  # only the best one qualifies
            reason = (f"no cheaper deployment is predicted within {self.threshold:.2f} of the best; '{first.id}' has "
                      f"the highest predicted success (p={p[first.id]:.2f})")
        else:
            reason = (f"'{first.id}' is the cheapest of {len(eligible)} eligible deployment(s) predicted to answer "
                      f"within {self.threshold:.2f} of the best (p={p[first.id]:.2f}, best {best:.2f})")
        estimated = [d for d in eligible if how[d.id] != "model"]
        if estimated:
            reason += f"; {len(estimated)} deployment(s) without outcome data estimated from their tier"
        return Ranking(
            order=order,
            strategy=self.strategy,
            version=self.version,
            reason=reason,
            details={
                "candidates": [
                    {"id": d.id, "tier": d.tier, "predicted_success": round(p[d.id], 4), "estimate": how[d.id],
                     "expected_cost_eur": str(expected_cost(d, request.prompt_tokens, request.max_output_tokens))}
                    for d in order
                ],
                "threshold": self.threshold,
                "decision": "cheapest deployment whose predicted success is within threshold of the best",
                "quality_target": self.target,
                "top_features": top,
                "top_features_for": pivot.id if pivot else None,
            },
        )
