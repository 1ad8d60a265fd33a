"""The per-deployment concurrency limiter keeps its counts right when waiters give up."""

from __future__ import annotations

import asyncio

import pytest

from aiguillage.errors import Overloaded
from aiguillage.health import Limiter


def test_queue_bound_fifo_handover_and_cancelled_waiters() -> None:
    async def scenario() -> list[str]:
        lim = Limiter("d", limit=1, queue_size=2)
        order: list[str] = []
        await lim.acquire()  # the one running call

        async def waiter(name: str) -> None:
            await lim.acquire()
            order.append(name)
            lim.release(0.01)

        a = asyncio.create_task(waiter("a"))
        b = asyncio.create_task(waiter("b"))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as full:
            await lim.acquire()
        assert full.value.status == 503 and int(full.value.headers["Retry-After"]) >= 1
        a.cancel()  # gives up while queued (e.g. its request deadline passed)
        await asyncio.sleep(0)
        assert len(lim.waiters) == 1
        lim.release(0.01)  # the slot goes to b, not to the cancelled a
        await b
        assert a.cancelled()
        assert lim.active == 0 and not lim.waiters
        await lim.acquire()  # and the limiter is whole again
        assert lim.active == 1
        return order

    assert asyncio.run(scenario()) == ["b"]


def test_handover_to_a_waiter_cancelled_at_the_same_moment_is_passed_on() -> None:
    async def scenario() -> int:
        lim = Limiter("d", limit=1, queue_size=4)
        await lim.acquire()
        a = asyncio.create_task(lim.acquire())
        b = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        lim.release(0.01)  # hands the slot to a ...
        a.cancel()  # ... which is cancelled before it runs: the slot must reach b
        await asyncio.sleep(0)
        await asyncio.wait_for(b, 1)
        assert a.cancelled() or a.done()
        return lim.active

    assert asyncio.run(scenario()) == 1
