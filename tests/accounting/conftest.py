"""Accounting fixtures: a small catalog, both counter backends, fresh PostgreSQL schemas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import redis
import sqlalchemy as sa

from aiguillage.accounting import Accounting
from aiguillage.accounting.memory import MemoryBackend
from aiguillage.config import Deployment, Settings
from aiguillage.store.db import Database

T = TypeVar("T")

SMALL = Deployment(id="eu-small", provider="openai", tier="small", price_eur_per_mtok={"input": "0.1", "output": "0.3"})
MEDIUM = Deployment(id="eu-medium", provider="openai", tier="medium",
                    price_eur_per_mtok={"input": "0.4", "output": "1.2"})
LARGE = Deployment(id="eu-large", provider="openai", tier="large", price_eur_per_mtok={"input": "2", "output": "6"})
CATALOG = [SMALL, MEDIUM, LARGE]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def settings() -> Settings:
    return Settings(models=CATALOG)


def pg_schema_url(base: str, schema: str) -> str:
    return f"{base}?options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """A migrated Database in a fresh PostgreSQL schema, dropped afterwards."""
    schema = f"acct_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    db = Database(pg_schema_url(pg_url, schema))
    db.migrate()
    yield db
    db.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Any) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'acct.db'}")
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"test:acct:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_acc(request: pytest.FixtureRequest, settings: Settings, tmp_path: Any) -> Callable[..., Accounting]:
    """Builds an Accounting on the parametrised backend (Redis: a unique key prefix per test)."""
    if request.param == "sqlite":

        def make(db: Database | None = None) -> Accounting:
            return Accounting(settings, db, None, counters_file=tmp_path / "counters.db")
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")

        def make(db: Database | None = None) -> Accounting:
            return Accounting(settings, db, url, key_prefix=prefix)
    else:

        def make(db: Database | None = None) -> Accounting:
            acc = Accounting(settings, db, None, counters_file=False)
            assert isinstance(acc.backend, MemoryBackend)
            return acc

    return make


def cost(d: Deployment, prompt: int, completion: int) -> Decimal:
    p = d.price_eur_per_mtok
    return (p.input * prompt + p.output * completion) / Decimal(1_000_000)
