"""Offline evaluation of a trained router on outcome data: scores, metrics, cost, plot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from aiguillage.config import Deployment, Settings
from aiguillage.routing.base import expected_cost
from aiguillage.routing.cascade import AnswerModel
from aiguillage.routing.learned import PromptSuccessModel
from aiguillage.routing.metrics import Curve, cpt, oracle_curve, routing_curve, summarize
from aiguillage.routing.outcomes import OutcomeTable

Tick = Callable[[int], None]
BATCH = 256
DEFAULT_OUTPUT_TOKENS = 256


def learned_score(probs: np.ndarray, weak: int, strong: int) -> np.ndarray:
    """The learned router's score: (1 + p_strong - p_weak) / 2, i.e. the chance that the strong
    model's answer beats the weak one's, a tie counting half. Its order is the order of the
    predicted loss of staying on the weak model, which is what the router escalates on."""
    return (1 + probs[:, strong] - probs[:, weak]) / 2


def score_table(meta: dict[str, Any], model: Any, table: OutcomeTable, weak: str, strong: str,
                tick: Tick | None = None, extra: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Per row, higher = needs the stronger model (see docs/routing.md for each strategy's meaning).

    ``extra``, when given, receives per-row columns worth writing next to the score: for the
    learned router, ``weak_fails`` = the predicted probability that the weak model's answer fails."""
    out = np.zeros(len(table))
    if isinstance(model, PromptSuccessModel):
        for col, flag in ((weak, "--weak"), (strong, "--strong")):
            if col not in model.columns:
                raise ValueError(f"the artifact has no outcome column '{col}' (it knows: "
                                 f"{', '.join(model.columns)}); pass {flag} with one of those names")
        j, k = model.columns.index(weak), model.columns.index(strong)
        weak_fails = np.zeros(len(table))
        for s in range(0, len(table), BATCH):
            probs = model.predict(table.prompts[s:s + BATCH])
            out[s:s + BATCH] = learned_score(probs, j, k)
            weak_fails[s:s + BATCH] = 1 - probs[:, j]
            if tick:
                tick(len(out[s:s + BATCH]))
        if extra is not None:
            extra["weak_fails"] = weak_fails
    elif isinstance(model, AnswerModel):
        answers = table.response(weak)
        for s in range(0, len(table), BATCH):
            out[s:s + BATCH] = model.scores(table.prompts[s:s + BATCH], answers[s:s + BATCH])
            if tick:
                tick(len(out[s:s + BATCH]))
    else:
        raise ValueError(f"unsupported artifact model for strategy '{meta.get('strategy')}'")
    return out


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)  # ~4 characters per token: only relative costs matter here


def find_deployment(settings: Settings, column: str) -> Deployment | None:
    dep = settings.deployment(column)
    if dep is not None:
        return dep
    for pol in [settings.default_policy, *settings.tenants.values()]:
        mapped = pol.router.column_map.get(column)
        if mapped and settings.deployment(mapped):
            return settings.deployment(mapped)
    return None


@dataclass(frozen=True)
class CostModel:
    weak: Decimal  # mean cost of one request on each model, EUR
    strong: Decimal
    cascade: bool

    def cost(self, strong_share: float) -> Decimal:
        s = Decimal(str(strong_share))
        return self.weak + s * self.strong if self.cascade else (1 - s) * self.weak + s * self.strong

    def saving(self, strong_share: float) -> float:
        """Share of the always-strong cost saved at this strong-call share."""
        if self.strong == 0 or np.isnan(strong_share):
            return float("nan")
        return float(1 - self.cost(strong_share) / self.strong)


def cost_model(settings: Settings, table: OutcomeTable, weak: str, strong: str, cascade: bool) -> CostModel:
    deps = {}
    for col in (weak, strong):
        d = find_deployment(settings, col)
        if d is None:
            raise ValueError(f"{settings.source}: no deployment for column '{col}': give one that id, or map it "
                             "in a tenant's router.column_map")
        deps[col] = d

    def mean_cost(col: str) -> Decimal:
        texts = table.responses.get(col)
        total = Decimal(0)
        for i, p in enumerate(table.prompts):
            out_tokens = _tokens(texts[i]) if texts else DEFAULT_OUTPUT_TOKENS
            total += expected_cost(deps[col], _tokens(p), out_tokens)
        return total / len(table)

    return CostModel(mean_cost(weak), mean_cost(strong), cascade)


def report(score: np.ndarray, table: OutcomeTable, weak: str, strong: str,
           costs: CostModel | None = None) -> dict[str, Any]:
    w, s = table.require(weak), table.require(strong)
    keep = ~(np.isnan(w) | np.isnan(s))
    summ = summarize(score[keep], w[keep], s[keep])
    out: dict[str, Any] = summ.as_dict()
    orc = oracle_curve(w[keep], s[keep])
    out["oracle_cpt80"] = cpt(orc, 0.8)
    if costs is not None:
        out["cost_saving_vs_strong_at_95pct_quality"] = costs.saving(summ.share_for_95)
        out["cost_saving_vs_strong_at_cpt80"] = costs.saving(summ.cpt80)
        out["cost_counts_weak_call_on_every_request"] = costs.cascade
    return out


def plot(path: str | Path, score: np.ndarray, weak: np.ndarray, strong: np.ndarray, title: str,
         label: str = "router") -> None:
    """Quality vs strong-call share for the router, random, always-weak/strong and the oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve: Curve = routing_curve(score, weak, strong)
    orc = oracle_curve(weak, strong)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=80)
    ax.plot(curve.share * 100, curve.quality, label=label, lw=2)
    ax.plot([0, 100], [curve.weak, curve.strong], "--", color="grey", label="random")
    ax.plot(orc.share * 100, orc.quality, ":", color="green", label="oracle")
    ax.axhline(curve.weak, color="tab:orange", lw=1, label="always weak")
    ax.axhline(curve.strong, color="tab:red", lw=1, label="always strong")
    ax.set_xlabel("strong-model calls (%)")
    ax.set_ylabel("quality (share of good answers)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
