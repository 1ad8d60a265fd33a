"""Optional active health checks: GET {base_url}/models on a timer, feeding the breakers."""

from __future__ import annotations

import asyncio


from aiguillage.providers.http import UpstreamHttp
from aiguillage.config import Deployment, ResilienceSettings, Timeouts
from aiguillage.health import Health
from aiguillage.providers.openai import OpenAIProvider
from tests.resilience.fakes import FaultyOpenAI
from tests.support import free_port

SETTINGS = ResilienceSettings(breaker_failures=2, breaker_cooldown_s=60, health_check_interval_s=0.05,
                              timeouts=Timeouts(connect=0.5, first_token=0.5, idle=0.5, total=2))


def test_checks_open_a_dead_deployment_and_half_open_a_recovered_one() -> None:
    up = FaultyOpenAI("up").start()
    try:
        live = Deployment(id="live", provider="openai", base_url=up.url, tier="small", jurisdiction="eu")
        dead = Deployment(id="dead", provider="openai", base_url=f"http://127.0.0.1:{free_port()}/v1",
                          tier="small", jurisdiction="eu")

        async def scenario() -> tuple[str, str, str]:
            async with UpstreamHttp() as http:
                providers = {d.id: OpenAIProvider(d, http, SETTINGS.timeouts) for d in (live, dead)}
                health = Health(SETTINGS, [live, dead], providers, http)
                for _ in range(2):  # live failed twice in requests: open, with a 60 s cool-down
                    health.observe("live", False)
                assert health.breaker_state("live") == "open"
                health.start()
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    if health.breaker_state("dead") == "open" and health.breaker_state("live") == "half_open":
                        break
                await health.close()
                return health.breaker_state("live"), health.breaker_state("dead"), health.status("dead")

        live_state, dead_state, dead_status = asyncio.run(scenario())
        assert live_state == "half_open"  # a good check ends the open period early; the next request probes
        assert dead_state == "open" and dead_status == "unavailable"
        assert up.requests == []  # checks use GET /models, never a chat completion
    finally:
        up.stop()
