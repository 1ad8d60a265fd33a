"""Redis down: admission fails closed with a 503 that names the fix; settlement never raises."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from aiguillage.accounting import Accounting, Admission
from aiguillage.accounting.plan import build_plan
from aiguillage.config import Budget, Settings, TenantPolicy
from aiguillage.errors import Overloaded
from tests.accounting.conftest import CATALOG, run


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_redis(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    pol = TenantPolicy(budgets=[Budget(amount_eur=Decimal(1), mode="hard")])

    async def scenario() -> None:
        acc = Accounting(settings, None, url, key_prefix="never:")
        try:
            with pytest.raises(Overloaded) as info:
                await acc.admit("acme", "k1", pol, 10, 10, CATALOG)
            assert info.value.status == 503 and "redis_url" in info.value.message and url in info.value.message
            # No limits configured: Redis is never touched, so requests still flow.
            assert (await acc.admit("acme", "k1", TenantPolicy(), 10, 10, CATALOG)).headers == {}
            plan = build_plan("never:", "acme", "k1", pol, 10, 10, CATALOG, 0.0)
            adm = Admission(plan=plan, reserved_eur=plan.reserve_full)
            await acc.settle(adm, Decimal("0.001"), 20)  # logs, does not raise
            assert adm.settled
        finally:
            await acc.close()

    run(scenario())
    assert any("settling tenant 'acme'" in r.getMessage() for r in caplog.records)


def test_error_messages_never_show_the_redis_password(settings: Settings) -> None:
    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"
    pol = TenantPolicy(budgets=[Budget(amount_eur=Decimal(1), mode="hard")])

    async def scenario() -> None:
        acc = Accounting(settings, None, url, key_prefix="never:")
        try:
            with pytest.raises(Overloaded) as info:
                await acc.admit("acme", "k1", pol, 10, 10, CATALOG)
            assert "s3cret" not in info.value.message and ":***@127.0.0.1" in info.value.message
        finally:
            await acc.close()

    run(scenario())
