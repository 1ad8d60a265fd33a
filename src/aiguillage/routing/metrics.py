"""Router quality metrics, as RouteLLM defines them.

A router gives every prompt a score (higher = needs the strong model). Sending the ``k``
highest-scoring prompts to the strong model and the rest to the weak one gives a quality
``r(k/n)``; the curve over the strong-call share ``c`` in [0, 1] is what the metrics summarise:

- PGR(c) = (r(c) - r_weak) / (r_strong - r_weak), the performance gap recovered;
- APGR = the area under PGR(c) for c from 0 to 1;
- CPT(x) = the smallest strong-call share c with PGR(c) >= x.

Tied scores are split in expectation (as a random tie-break would on average), so the curve is
piecewise linear between the tie groups' boundaries and a constant score gives the random
router's diagonal. ``routellm_discrete`` reproduces the RouteLLM evaluation script's 10-bin
approximation for comparison with its published table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Curve:
    share: np.ndarray  # strong-call share at each vertex, from 0 to 1
    quality: np.ndarray  # mean outcome at that share
    weak: float
    strong: float

    @property
    def pgr(self) -> np.ndarray:
        gap = self.strong - self.weak
        if gap == 0:
            raise ValueError("the weak and strong models score the same: PGR is undefined")
        return (self.quality - self.weak) / gap


def _check(score: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> None:
    if not (len(score) == len(weak) == len(strong)) or len(score) == 0:
        raise ValueError("score, weak and strong must be non-empty and of the same length")


def routing_curve(score: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> Curve:
    """The quality/strong-share curve of routing by ``score`` (highest scores go strong first)."""
    score, weak, strong = (np.asarray(a, dtype=float) for a in (score, weak, strong))
    _check(score, weak, strong)
    n = len(score)
    order = np.argsort(-score, kind="stable")
    gain = (strong - weak)[order]
    cum = np.concatenate([[0.0], np.cumsum(gain)])
    s = score[order]
    # Vertices only at tie-group boundaries: inside a group the expected gain is linear.
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(s) != 0) + 1, [n]])
    return Curve(
        share=bounds / n,
        quality=(weak.sum() + cum[bounds]) / n,
        weak=float(weak.mean()),
        strong=float(strong.mean()),
    )


def apgr(curve: Curve) -> float:
    return float(np.trapezoid(curve.pgr, curve.share))


def _first_crossing(share: np.ndarray, y: np.ndarray, goal: float) -> float:
    """Smallest x on the piecewise-linear curve (share, y) where y reaches ``goal``; NaN if never."""
    hit = np.flatnonzero(y >= goal - 1e-12)
    if len(hit) == 0:
        return float("nan")
    j = int(hit[0])
    if j == 0:
        return float(share[0])
    x0, x1, y0, y1 = share[j - 1], share[j], y[j - 1], y[j]
    return float(x0 + (goal - y0) * (x1 - x0) / (y1 - y0))


def cpt(curve: Curve, target: float) -> float:
    """Smallest strong-call share whose PGR reaches ``target`` (a fraction, e.g. 0.8)."""
    return _first_crossing(curve.share, curve.pgr, target)


def share_for_quality(curve: Curve, fraction_of_strong: float) -> float:
    """Smallest strong-call share whose quality reaches ``fraction_of_strong`` x the strong model's."""
    return _first_crossing(curve.share, curve.quality, fraction_of_strong * curve.strong)


def oracle_curve(weak: np.ndarray, strong: np.ndarray) -> Curve:
    """The best possible router: escalates exactly the prompts the strong model wins, first."""
    weak, strong = np.asarray(weak, dtype=float), np.asarray(strong, dtype=float)
    return routing_curve(strong - weak, weak, strong)


@dataclass(frozen=True)
class Summary:
    apgr: float
    cpt50: float
    cpt80: float
    share_for_95: float  # strong share needed to keep 95% of the strong model's quality
    weak: float
    strong: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "apgr": self.apgr,
            "cpt50": self.cpt50,
            "cpt80": self.cpt80,
            "strong_share_for_95pct_quality": self.share_for_95,
            "weak_quality": self.weak,
            "strong_quality": self.strong,
            "n": self.n,
        }


def summarize(score: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> Summary:
    c = routing_curve(score, weak, strong)
    return Summary(apgr(c), cpt(c, 0.5), cpt(c, 0.8), share_for_quality(c, 0.95), c.weak, c.strong, len(score))


def random_baseline(
    weak: np.ndarray, strong: np.ndarray, draws: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Confidence intervals of a random router's APGR and CPT(50%/80%) on this data."""
    weak, strong = np.asarray(weak, dtype=float), np.asarray(strong, dtype=float)
    rng = np.random.default_rng(seed)
    vals: dict[str, list[float]] = {"apgr": [], "cpt50": [], "cpt80": []}
    for _ in range(draws):
        c = routing_curve(rng.random(len(weak)), weak, strong)
        vals["apgr"].append(apgr(c))
        vals["cpt50"].append(cpt(c, 0.5))
        vals["cpt80"].append(cpt(c, 0.8))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {k: (float(np.nanpercentile(v, lo)), float(np.nanpercentile(v, hi))) for k, v in vals.items()}


def routellm_discrete(
    score: np.ndarray, weak: np.ndarray, strong: np.ndarray, bins: int = 10
) -> dict[str, float]:
    """RouteLLM's evaluation script: thresholds at the score deciles, trapezoid APGR, CPT by interp."""
    score, weak, strong = (np.asarray(a, dtype=float) for a in (score, weak, strong))
    _check(score, weak, strong)
    thresholds = np.quantile(score, np.linspace(0, 1, bins + 1))
    shares, accs = [], []
    for i, t in enumerate(thresholds):
        sel = score >= t if i != len(thresholds) - 1 else score > t
        shares.append(sel.mean())
        accs.append(np.where(sel, strong, weak).mean())
    order = np.argsort(shares, kind="stable")
    x, y = np.asarray(shares)[order], np.asarray(accs)[order]
    w, s = weak.mean(), strong.mean()
    span = x[-1] - x[0]
    area = np.trapezoid(y, x)
    out = {"apgr": float((area - w * span) / ((s - w) * span)) if span > 0 else float("nan")}
    for pct in (0.5, 0.8):
        out[f"cpt{int(pct * 100)}"] = float(np.interp(pct * (s - w) + w, y, x))
    return out
