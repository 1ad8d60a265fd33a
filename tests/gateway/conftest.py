from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment


class ThreeTier:
    """A running gateway in front of three fake upstreams (small/eu, medium/on_prem, large/us)."""

    def __init__(self, tmp: Path) -> None:
        self.small = FakeOpenAI("small", answer="Petite réponse.").start()
        self.medium = FakeOpenAI("medium", answer="Mittlere Antwort.").start()
        self.large = FakeOpenAI("large", answer="A large answer.").start()
        cfg = catalog(
            openai_deployment("eu-small", self.small.url, "small", "eu", ("0.2", "0.6"), context_window=4096,
                              capabilities=["chat", "stream", "json_mode"]),
            openai_deployment("onprem-medium", self.medium.url, "medium", "on_prem", ("1.1", "3.3"),
                              context_window=16384),
            openai_deployment("us-large", self.large.url, "large", "us", ("10", "30"), context_window=32768),
            server={"max_body_bytes": 200_000},
            resilience={"max_attempts": 3, "backoff_base_s": 0.01,
                        "timeouts": {"connect": 2, "first_token": 1.5, "idle": 1.5, "total": 10}},
        )
        self.gw = GatewayProcess(tmp, cfg, workers=2).start()
        self.key = self.gw.key("acme")

    @property
    def fakes(self) -> list[FakeOpenAI]:
        return [self.small, self.medium, self.large]

    def reset(self) -> None:
        for f in self.fakes:
            f.reset()

    def close(self) -> None:
        self.gw.stop()
        for f in self.fakes:
            f.stop()


@pytest.fixture(scope="package")
def three_tier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreeTier]:
    env = ThreeTier(tmp_path_factory.mktemp("gw3"))
    yield env
    env.close()


@pytest.fixture
def tt(three_tier: ThreeTier) -> ThreeTier:
    three_tier.reset()
    return three_tier
