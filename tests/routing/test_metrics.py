"""Metrics against values computed by hand on a four-prompt table."""

from __future__ import annotations

import numpy as np
import pytest

from aiguillage.routing.metrics import (
    apgr, cpt, oracle_curve, random_baseline, routing_curve, share_for_quality, summarize,
)

# weak right on 0 and 3, strong right on 0, 1, 2: r_weak = 0.5, r_strong = 0.75.
WEAK = np.array([1, 0, 0, 1])
STRONG = np.array([1, 1, 1, 0])
SCORE = np.array([0.1, 0.9, 0.5, 0.3])  # routes 1, 2, 3, 0 to the strong model in that order


def test_curve_vertices_by_hand() -> None:
    c = routing_curve(SCORE, WEAK, STRONG)
    assert c.share.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert c.quality.tolist() == [0.5, 0.75, 1.0, 0.75, 0.75]
    assert c.pgr.tolist() == [0, 1, 2, 1, 1]


def test_apgr_cpt_and_95pct_share_by_hand() -> None:
    c = routing_curve(SCORE, WEAK, STRONG)
    # trapezoids of width 0.25: (0+1)/2 + (1+2)/2 + (2+1)/2 + (1+1)/2 = 4.5, x 0.25
    assert apgr(c) == pytest.approx(1.125)
    assert cpt(c, 0.5) == pytest.approx(0.125)
    assert cpt(c, 0.8) == pytest.approx(0.2)
    # 95% of 0.75 = 0.7125, reached on the first segment at (0.7125 - 0.5) / 1.0
    assert share_for_quality(c, 0.95) == pytest.approx(0.2125)
    s = summarize(SCORE, WEAK, STRONG)
    assert (s.apgr, s.cpt50, s.cpt80, s.weak, s.strong) == pytest.approx((1.125, 0.125, 0.2, 0.5, 0.75))


def test_ties_split_in_expectation_gives_random_diagonal() -> None:
    c = routing_curve(np.zeros(4), WEAK, STRONG)
    assert c.share.tolist() == [0, 1]
    assert apgr(c) == pytest.approx(0.5)
    assert cpt(c, 0.8) == pytest.approx(0.8)


def test_reversed_router_is_worse_than_random_and_oracle_is_best() -> None:
    assert apgr(routing_curve(-SCORE, WEAK, STRONG)) < 0.5
    orc = oracle_curve(WEAK, STRONG)
    assert cpt(orc, 1.0) == pytest.approx(0.25)  # only prompt 1 or 2 first: one strong win per 25%
    assert apgr(orc) >= apgr(routing_curve(SCORE, WEAK, STRONG))


def test_random_baseline_interval_brackets_half() -> None:
    rng = np.random.default_rng(1)
    w, s = rng.random(500) < 0.6, rng.random(500) < 0.8
    ci = random_baseline(w, s, draws=200)
    lo, hi = ci["apgr"]
    assert lo < 0.5 < hi and hi - lo < 0.5


def test_equal_models_make_pgr_undefined() -> None:
    with pytest.raises(ValueError, match="PGR is undefined"):
        _ = routing_curve(SCORE, WEAK, WEAK).pgr
