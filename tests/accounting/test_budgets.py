"""Each budget mode, settlement, per-key scope and ledger seeding, on both counter backends."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from aiguillage.accounting import Accounting, LedgerSink
from aiguillage.accounting.periods import period_of
from aiguillage.config import Budget, TenantPolicy
from aiguillage.errors import BudgetExceeded
from aiguillage.store.db import Database
from tests.accounting.conftest import CATALOG, LARGE, MEDIUM, SMALL, cost, run

# Every request: 1000 prompt tokens, at most 1000 output tokens.
WORST_LARGE = cost(LARGE, 1000, 1000)  # 0.008
WORST_MEDIUM = cost(MEDIUM, 1000, 1000)  # 0.0016


def policy(*budgets: Budget) -> TenantPolicy:
    return TenantPolicy(budgets=list(budgets))


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_no_limits_admission_is_a_no_op(make_acc: Callable[..., Accounting]) -> None:
    async def scenario() -> None:
        acc = make_acc()
        try:
            adm = await acc.admit("acme", "k1", TenantPolicy(), 10, 10, CATALOG)
            assert adm.headers == {} and adm.allowed_tiers is None and adm.plan is None
            assert adm.filter(CATALOG) == CATALOG
            await acc.settle(adm, Decimal("1"), 20)
            assert adm.settled
        finally:
            await acc.close()

    run(scenario())


def test_hard_budget_refuses_once_spent(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    amount = Decimal("0.03")
    pol = policy(Budget(amount_eur=amount, mode="hard"))

    async def scenario() -> tuple[Decimal, Decimal, BudgetExceeded]:
        acc = make_acc()
        spent = Decimal(0)
        last = Decimal(0)
        try:
            while True:
                try:
                    adm = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
                except BudgetExceeded as exc:
                    return spent, last, exc
                assert adm.reserved_eur == WORST_LARGE
                last = cost(LARGE, 1000, 700)
                spent += last
                await acc.settle(adm, last, 1700)
        finally:
            await acc.close()

    spent, last, exc = run(scenario())
    assert spent >= amount and spent - amount < last  # overspent by less than the last request's cost
    assert exc.status == 429 and exc.code == "budget_exceeded"
    assert "budgets[0].amount_eur" in exc.message and t in exc.message
    end = period_of(Budget(amount_eur=amount), time.time()).end
    assert abs(int(exc.headers["retry-after"]) - (end - time.time())) < 5
    assert exc.details and exc.details["amount_eur"] == "0.03"


def test_soft_budget_warns_but_admits(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    pol = policy(Budget(amount_eur=Decimal("0.01"), mode="soft"))

    def soft_events() -> float:
        return REGISTRY.get_sample_value("aiguillage_budget_events_total", {"tenant": t, "event": "soft_exceeded"}) or 0

    async def scenario() -> list[str | None]:
        acc = make_acc()
        warnings = []
        try:
            for _ in range(4):
                adm = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
                warnings.append(adm.headers.get("x-aiguillage-budget-warning"))
                await acc.settle(adm, Decimal("0.0045"), 2000)
        finally:
            await acc.close()
        return warnings

    warnings = run(scenario())
    # 0 and 0.0045 spent: fine; 0.009 (over 80 %): nearly spent; 0.0135: exceeded, still admitted.
    assert warnings[0] is None and warnings[1] is None
    assert warnings[2] is not None and "nearly spent" in warnings[2]
    assert warnings[3] is not None and "exceeded" in warnings[3] and "soft" in warnings[3]
    assert soft_events() == 1


def test_downgrade_budget_routes_to_cheaper_tiers_then_refuses(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    pol = policy(Budget(amount_eur=Decimal("0.02"), mode="downgrade", downgrade_below=0.5))

    async def scenario() -> list[tuple[frozenset[str] | None, Decimal, str | None]]:
        acc = make_acc()
        seen = []
        try:
            while True:
                try:
                    adm = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
                except BudgetExceeded:
                    return seen
                seen.append((adm.allowed_tiers, adm.reserved_eur, adm.reason))
                chosen = adm.filter(CATALOG)[-1]  # the most expensive allowed
                await acc.settle(adm, cost(chosen, 1000, 1000), 2000)
        finally:
            await acc.close()

    seen = run(scenario())
    # 0.008 then 0.016 spent: over half the budget is gone after the second request.
    assert seen[0][0] is None and seen[0][1] == WORST_LARGE
    assert seen[1][0] is None
    downgraded = seen[2:]
    assert downgraded, "the budget should have downgraded before refusing"
    for tiers, reserved, reason in downgraded:
        assert tiers == frozenset({"small", "medium"})
        assert reserved == WORST_MEDIUM  # reserves against the most expensive *allowed* candidate
        assert reason is not None and "downgrade" in reason and "small, medium" in reason
    # 0.016 + 2 x 0.0016 = 0.0192 < 0.02, the third medium request crosses: 3 downgraded admissions.
    assert len(downgraded) == 3


def test_settle_refunds_the_reservation_exactly_once(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    # Room for exactly one worst-case reservation at a time.
    pol = policy(Budget(amount_eur=WORST_LARGE, mode="hard"))

    async def scenario() -> None:
        acc = make_acc()
        try:
            first = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
            with pytest.raises(BudgetExceeded):  # reserved = budget: nothing left while in flight
                await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
            await acc.settle(first, Decimal(0), 0)  # the upstream failed: nothing charged
            await acc.settle(first, WORST_LARGE, 2000)  # a second settle must not charge again
            second = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
            await acc.settle(second, Decimal("0.001"), 1100)
            third = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)  # 0.001 of 0.008 spent
            await acc.settle(third, WORST_LARGE, 2000)
            with pytest.raises(BudgetExceeded):
                await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
        finally:
            await acc.close()

    run(scenario())


def test_per_key_budgets(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    pol = policy(
        Budget(scope="key", amount_eur=Decimal("0.005"), mode="hard"),
        Budget(scope="key", key_id="vip", amount_eur=Decimal("1"), mode="hard"),
    )

    async def scenario() -> None:
        acc = make_acc()
        try:
            a = await acc.admit(t, "k-a", pol, 1000, 1000, CATALOG)
            await acc.settle(a, Decimal("0.006"), 2000)
            with pytest.raises(BudgetExceeded) as info:
                await acc.admit(t, "k-a", pol, 1000, 1000, CATALOG)
            assert "key 'k-a'" in info.value.message
            b = await acc.admit(t, "k-b", pol, 1000, 1000, CATALOG)  # another key has its own counter
            assert b.plan is not None and len(b.plan.rules) == 1  # the vip budget is not k-b's
            await acc.settle(b, Decimal("0.001"), 2000)
        finally:
            await acc.close()

    run(scenario())


def test_tenant_budget_is_shared_by_all_keys(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    pol = policy(Budget(amount_eur=Decimal("0.005"), mode="hard", period="daily"))

    async def scenario() -> None:
        acc = make_acc()
        try:
            a = await acc.admit(t, "k-a", pol, 1000, 1000, CATALOG)
            await acc.settle(a, Decimal("0.005"), 2000)
            with pytest.raises(BudgetExceeded):
                await acc.admit(t, "k-b", pol, 1000, 1000, CATALOG)
        finally:
            await acc.close()

    run(scenario())


@pytest.mark.parametrize("store", ["sqlite_db", "pg_db"])
def test_counters_are_seeded_from_the_ledger(make_acc: Callable[..., Accounting], store: str,
                                             request: pytest.FixtureRequest) -> None:
    """After a restart (or a Redis flush) the spend already in the ledger still counts."""
    db: Database = request.getfixturevalue(store)
    t = tenant()
    now = time.time()
    records = [
        {"decision_id": uuid.uuid4().hex, "tenant": t, "key_id": "k1", "received_at": now - 1, "status": 200,
         "chosen": {"id": SMALL.id, "tier": "small"}, "usage": {"prompt_tokens": 10, "completion_tokens": 10},
         "cost_eur": "0.004", "counterfactual_cost_eur": "0.01"},
        {"decision_id": uuid.uuid4().hex, "tenant": t, "key_id": "k2", "received_at": now - 2, "status": 200,
         "chosen": {"id": SMALL.id, "tier": "small"}, "usage": {"prompt_tokens": 10, "completion_tokens": 10},
         "cost_eur": "0.0035", "counterfactual_cost_eur": "0.01"},
        # Last month's spend does not count against this month.
        {"decision_id": uuid.uuid4().hex, "tenant": t, "key_id": "k1", "received_at": now - 40 * 86400,
         "status": 200, "chosen": {"id": SMALL.id, "tier": "small"},
         "usage": {"prompt_tokens": 10, "completion_tokens": 10}, "cost_eur": "5", "counterfactual_cost_eur": "5"},
    ]
    with db.engine.begin() as conn:
        LedgerSink().write(conn, records)
    pol = policy(Budget(amount_eur=Decimal("0.01"), mode="hard"),
                 Budget(scope="key", amount_eur=Decimal("0.004"), mode="hard"))

    async def scenario() -> None:
        acc = make_acc(db)
        try:
            with pytest.raises(BudgetExceeded) as info:  # k1 spent its 0.004
                await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
            assert info.value.details and info.value.details["spent_eur"] == "0.004"
            adm = await acc.admit(t, "k2", pol, 1000, 1000, CATALOG)  # tenant: 0.0075 of 0.01 spent
            await acc.settle(adm, Decimal("0.0025"), 2000)
            with pytest.raises(BudgetExceeded) as info:
                await acc.admit(t, "k3", pol, 1000, 1000, CATALOG)
            assert info.value.details and info.value.details["spent_eur"] == "0.01"
        finally:
            await acc.close()

    run(scenario())


def test_concurrent_admissions_never_overspend(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    amount = Decimal("0.05")
    pol = policy(Budget(amount_eur=amount, mode="hard"))
    charged: list[Decimal] = []

    async def one(acc: Accounting) -> None:
        while True:
            try:
                adm = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
            except BudgetExceeded:
                return
            await asyncio.sleep(0.001)
            actual = cost(LARGE, 1000, 900)
            charged.append(actual)
            await acc.settle(adm, actual, 1900)

    async def scenario() -> None:
        acc = make_acc()
        try:
            await asyncio.gather(*(one(acc) for _ in range(20)))
        finally:
            await acc.close()

    run(scenario())
    spent = sum(charged, Decimal(0))
    assert spent >= amount - WORST_LARGE  # the budget was actually used
    assert spent - amount < cost(LARGE, 1000, 900)
