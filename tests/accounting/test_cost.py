from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from aiguillage.accounting import (
    cost_of,
    counterfactual_cost,
    decimal_str,
    largest_deployment,
    worst_case_cost,
)
from aiguillage.accounting.cost import to_nano
from aiguillage.accounting.periods import period_of
from aiguillage.config import Budget, Deployment
from tests.accounting.conftest import LARGE, MEDIUM, SMALL


def test_cost_is_exact() -> None:
    d = Deployment(id="x", provider="openai", tier="small", price_eur_per_mtok={"input": "0.15", "output": "0.60"})
    # 1234 * 0.15 + 567 * 0.60 = 185.1 + 340.2 = 525.3 per million tokens
    assert cost_of(d, 1234, 567) == Decimal("0.0005253")
    assert decimal_str(cost_of(d, 1, 0)) == "0.00000015"
    assert cost_of(d, 0, 0) == 0
    # No float anywhere: 3 x 0.1 EUR/Mtok x 1 token is exactly 3e-7, not 3.0000000000000004e-7.
    d2 = Deployment(id="y", provider="openai", tier="small", price_eur_per_mtok={"input": "0.1", "output": "0"})
    assert sum((cost_of(d2, 1, 0) for _ in range(3)), Decimal(0)) == Decimal("0.0000003")


def test_counterfactual_is_the_largest_tier_then_the_dearest() -> None:
    dear_small = Deployment(id="dear-small", provider="openai", tier="small",
                            price_eur_per_mtok={"input": "90", "output": "90"})
    twin = Deployment(id="twin-large", provider="openai", tier="large", price_eur_per_mtok={"input": "2", "output": "6"})
    dearer = Deployment(id="dearer-large", provider="openai", tier="large",
                        price_eur_per_mtok={"input": "1", "output": "7"})
    assert largest_deployment([dear_small, SMALL, LARGE, MEDIUM, twin]) is LARGE  # tie: catalog order
    assert largest_deployment([SMALL, LARGE, dearer]) is dearer
    assert largest_deployment([]) is None
    cf, dep = counterfactual_cost([SMALL, MEDIUM], 1000, 1000)
    assert dep == "eu-medium" and cf == Decimal("0.0016")
    assert counterfactual_cost([], 10, 10) == (Decimal(0), None)


def test_worst_case_is_the_most_expensive_candidate() -> None:
    assert worst_case_cost([SMALL, LARGE, MEDIUM], 100, 1000) == Decimal("0.0062")
    assert worst_case_cost([], 100, 1000) == 0


def test_nano_rounding_is_upwards() -> None:
    assert to_nano(Decimal("0.00000015")) == 150
    assert to_nano(Decimal("0.0000000001")) == 1
    assert to_nano(Decimal("1")) == 1_000_000_000
    assert to_nano(Decimal(0)) == 0


def test_periods() -> None:
    dec31 = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    p = period_of(Budget(amount_eur=Decimal(1), period="monthly"), dec31)
    assert (p.start, p.end) == (datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
                                datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    assert p.tag == "m202612" and p.iso_end() == "2027-01-01T00:00:00Z"
    d = period_of(Budget(amount_eur=Decimal(1), period="daily"), dec31)
    assert d.end - d.start == 86400 and d.tag == "d20261231"
    c = period_of(Budget(amount_eur=Decimal(1), period="custom", period_days=7), 7 * 86400 * 10 + 5)
    assert (c.start, c.end) == (7 * 86400 * 10, 7 * 86400 * 11) and c.tag == "c7-10"
