from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import PG_URL, REDIS_URL, require_service


@pytest.fixture(scope="session")
def pg_url() -> str:
    require_service("PostgreSQL", 5432)
    return PG_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    require_service("Redis", 6379)
    return REDIS_URL


@pytest.fixture
def fake_upstream() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()
