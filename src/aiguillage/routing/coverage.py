"""Which catalog deployment each outcome column stands for, and what to assume for the others.

A column matches a deployment whose id equals the column name, or the deployment named for it
in ``RouterSpec.column_map``. A deployment no column covers gets a predicted success estimated
from its tier: the mean over covered deployments of the same tier; failing that, the mean of
the nearest covered tiers below and above (interpolation); failing that, the nearest covered
tier on the only side there is. The explanation says which estimates came from a tier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiguillage.config import TIER_RANK, Deployment


def column_for(columns: Iterable[str], column_map: Mapping[str, str]) -> dict[str, str]:
    """deployment id -> outcome column (explicit mapping wins over same-name matches)."""
    out = {c: c for c in columns}
    cols = set(out)
    for col, dep in column_map.items():
        if col in cols:
            if out.get(col) == col:
                del out[col]  # the column now stands for `dep`, not for a same-named deployment
            out[dep] = col
    return out


def predicted_success(
    eligible: list[Deployment],
    by_column: Mapping[str, float],
    dep_to_col: Mapping[str, str],
    tier_of_column: Mapping[str, str],
) -> tuple[dict[str, float], dict[str, str]]:
    """Per eligible deployment: predicted success, and how it was obtained ("model" or a tier rule)."""
    tier_values: dict[int, list[float]] = {}
    for col, p in by_column.items():
        tier_values.setdefault(TIER_RANK[tier_of_column[col]], []).append(p)
    tier_mean = {t: sum(v) / len(v) for t, v in tier_values.items()}
    probs: dict[str, float] = {}
    how: dict[str, str] = {}
    for d in eligible:
        dep_col = dep_to_col.get(d.id)
        if dep_col is not None and dep_col in by_column:
            probs[d.id], how[d.id] = by_column[dep_col], "model"
            continue
        probs[d.id], how[d.id] = _from_tiers(TIER_RANK[d.tier], tier_mean)
    return probs, how


def _from_tiers(rank: int, tier_mean: Mapping[int, float]) -> tuple[float, str]:
    if not tier_mean:
        return 0.5, "no outcome data: assumed 0.5"
    if rank in tier_mean:
        return tier_mean[rank], "same-tier estimate"
    below = [t for t in tier_mean if t < rank]
    above = [t for t in tier_mean if t > rank]
    if below and above:
        lo, hi = max(below), min(above)
        w = (rank - lo) / (hi - lo)
        return (1 - w) * tier_mean[lo] + w * tier_mean[hi], "interpolated between tiers"
    nearest = max(below) if below else min(above)
    return tier_mean[nearest], "nearest-tier estimate"
