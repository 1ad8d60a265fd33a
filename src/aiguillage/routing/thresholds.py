"""Quality target -> decision threshold, derived on out-of-fold predictions of the training data.

A quality target ``q`` means "keep ``q`` x the quality of the best model in the data". For each
target on a 0.01 grid the artifact stores the loosest threshold that still reaches it on the
training split (learned: the largest predicted loss tolerated against the best candidate;
cascade: the highest escalation score let through), so serving needs no data:
``RouterSpec.quality_target`` picks the entry and ``RouterSpec.threshold`` overrides it outright.
"""

from __future__ import annotations

import numpy as np

TARGET_GRID = [round(x, 2) for x in np.arange(0.50, 1.0001, 0.01)]
DEFAULT_TARGET = 0.95


def route_by_loss(probs: np.ndarray, tau: float) -> np.ndarray:
    """Column index per row: the first column (cheapest first) whose predicted success is within
    ``tau`` of the row's best predicted success (the best one always is)."""
    ok = probs.max(axis=1, keepdims=True) - probs <= tau + 1e-12
    return np.argmax(ok, axis=1)


def loss_thresholds(probs: np.ndarray, outcomes: np.ndarray) -> dict[float, float]:
    """For the learned router: the largest tolerated predicted loss reaching each quality target.
    ``probs``/``outcomes``: rows x columns, columns cheapest first."""
    best = np.nanmax(np.nanmean(outcomes, axis=0))
    filled = np.nan_to_num(outcomes, nan=0.0)
    loss = probs.max(axis=1, keepdims=True) - probs
    taus = np.unique(np.concatenate([np.linspace(0, 1, 201), np.quantile(loss, np.linspace(0, 1, 401))]))[::-1]
    rows = np.arange(len(probs))
    quality = np.array([filled[rows, route_by_loss(probs, t)].mean() for t in taus])
    out: dict[float, float] = {}
    for q in TARGET_GRID:
        hit = np.flatnonzero(quality >= q * best - 1e-12)
        out[q] = float(taus[hit[0]]) if len(hit) else 0.0
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
