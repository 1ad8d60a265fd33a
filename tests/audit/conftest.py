"""Fixtures: a temporary $AIGUILLAGE_HOME, and each test's log on SQLite and on the real PostgreSQL.

PostgreSQL tests run in a database created for this session (dropped at the end) and a fresh
schema per test, so concurrent runs never see each other's tables. Without the server they fail.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from aiguillage.audit import AuditLog, tables
from aiguillage.config import AuditSettings, Settings, TenantPolicy, default_settings
from aiguillage.store.db import Database

sys.path.insert(0, str(Path(__file__).parent))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIGUILLAGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AIGUILLAGE_AUDIT_KEY_DIR", raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = f"audit_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url(pg_database: str) -> str:
    """A schema created and migrated once per session; each test empties the audit tables."""
    schema = f"s_{secrets.token_hex(6)}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{pg_database}", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_database}?options=-csearch_path%3D{schema}"
    db = Database(url)
    db.migrate()
    db.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url: str = request.getfixturevalue("pg_url")
    # The audit tables, and the outcome samples that erasure also reaches.
    names = ", ".join([*(t.name for t in tables.metadata.sorted_tables), "outcome_samples", "feedback"])
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        conn.execute(f"TRUNCATE {names}")
    return url


def settings_with(checkpoint_every: int = 8, **audit: int) -> Settings:
    """Tenants ``acme`` and ``initech`` keep content (store_content); every other tenant has the
    default policy."""
    return default_settings().model_copy(
        update={
            "audit": AuditSettings(checkpoint_every=checkpoint_every, **audit),
            "tenants": {"acme": TenantPolicy(store_content=True), "initech": TenantPolicy(store_content=True)},
        }
    )


@pytest.fixture
def databases() -> Iterator[list[Database]]:
    made: list[Database] = []
    yield made
    for db in made:
        db.dispose()


@pytest.fixture
def log(db_url: str, databases: list[Database]) -> AuditLog:
    db = Database(db_url)
    databases.append(db)
    return AuditLog(db, settings_with())
