"""Quality target -> decision threshold, derived on out-of-fold predictions of the training data.

A quality target ``q`` means "keep ``q`` x the quality of the best model in the data". For each
target on a 0.01 grid the artifact stores the loosest threshold that still reaches it on the
training split, so serving needs no data: ``RouterSpec.quality_target`` picks the entry and
``RouterSpec.threshold`` overrides it outright.
"""

from __future__ import annotations

import numpy as np

TARGET_GRID = [round(x, 2) for x in np.arange(0.50, 1.0001, 0.01)]
DEFAULT_TARGET = 0.95


def route_by_success(probs: np.ndarray, tau: float) -> np.ndarray:
    """Column index per row: the first column (cheapest first) whose predicted success >= tau,
    else the column with the highest predicted success."""
    ok = probs >= tau
    first = np.argmax(ok, axis=1)
    return np.where(ok.any(axis=1), first, np.argmax(probs, axis=1))


def success_thresholds(probs: np.ndarray, outcomes: np.ndarray) -> dict[float, float]:
    """For the learned router. ``probs``/``outcomes``: rows x columns, columns cheapest first."""
    best = np.nanmax(np.nanmean(outcomes, axis=0))
    filled = np.nan_to_num(outcomes, nan=0.0)
    taus = np.unique(np.concatenate([np.linspace(0, 1, 201), np.quantile(probs, np.linspace(0, 1, 401))]))
    rows = np.arange(len(probs))
    quality = np.array([filled[rows, route_by_success(probs, t)].mean() for t in taus])
    out: dict[float, float] = {}
    for q in TARGET_GRID:
        hit = np.flatnonzero(quality >= q * best - 1e-12)
        out[q] = float(taus[hit[0]]) if len(hit) else 1.0
    return out


def escalation_thresholds(score: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> dict[float, float]:
    """For the cascade: escalate when score >= threshold; the highest threshold reaching each target."""
    best = max(np.nanmean(weak), np.nanmean(strong))
    w, s = np.nan_to_num(weak), np.nan_to_num(strong)
    cands = np.unique(np.concatenate([np.linspace(0, 1, 201), score]))[::-1]
    quality = np.array([np.where(score >= t, s, w).mean() for t in cands])
    out: dict[float, float] = {}
    for q in TARGET_GRID:
        hit = np.flatnonzero(quality >= q * best - 1e-12)
        out[q] = float(cands[hit[0]]) if len(hit) else 0.0
    return out


def pick(thresholds: dict[float, float], target: float) -> float:
    key = min(thresholds, key=lambda k: abs(float(k) - target))
    return thresholds[key]
