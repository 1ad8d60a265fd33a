"""The database: SQLite in the embedded default, PostgreSQL when ``database_url`` is set.

Every area declares its tables on its own ``sqlalchemy.MetaData`` and registers it with
``register_schema``; ``Database.migrate`` creates what is missing and records each schema's
version in ``schema_versions``, so SQLite/PostgreSQL differences stay inside this module.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from aiguillage.config import Settings, home_dir
from aiguillage.errors import causes

__all__ = ["Database", "register_schema", "database_url_for", "SchemaSpec", "driver_cursor", "enable_wal",
           "NotConfirmed", "contention", "pg_connect_defaults", "unavailable"]


@dataclass(frozen=True)
class SchemaSpec:
    name: str
    version: int
    metadata: sa.MetaData


_SCHEMAS: dict[str, SchemaSpec] = {}
_versions = sa.MetaData()
schema_versions = sa.Table(
    "schema_versions",
    _versions,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


def register_schema(name: str, version: int, metadata: sa.MetaData) -> None:
    _SCHEMAS[name] = SchemaSpec(name, version, metadata)


def database_url_for(settings: Settings | None) -> str:
    if settings is not None and settings.database_url:
        return settings.database_url
    home = home_dir()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'aiguillage.db'}"


BUSY_TIMEOUT_MS = 10_000  # how long a SQLite statement waits for another writer
_PG_CONNECT_DEFAULTS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                        "keepalives_count": 3, "tcp_user_timeout": 30_000}


def pg_connect_defaults(url: str) -> dict[str, Any]:
    """libpq settings the gateway adds for psycopg (see ``Database``): each one only where
    ``database_url`` does not set it, nor $PGCONNECT_TIMEOUT the connect timeout; none when the
    URL names a service file, which may set them itself."""
    parsed = sa.engine.make_url(url)
    if parsed.get_driver_name() != "psycopg" or "service" in parsed.query:
        return {}
    asked = set(parsed.query)
    if os.environ.get("PGCONNECT_TIMEOUT"):
        asked.add("connect_timeout")
    return {k: v for k, v in _PG_CONNECT_DEFAULTS.items() if k not in asked}


# SQLite result codes (the low byte of an extended code) that mean the database cannot be used
# right now, rather than a statement that is wrong: busy past busy_timeout, locked, read-only,
# an I/O error, a full disk, a file that cannot be opened.
_SQLITE_UNAVAILABLE = {5: "busy", 6: "locked", 8: "read-only", 10: "I/O error", 13: "disk full",
                       14: "cannot open the file"}

# PostgreSQL SQLSTATEs that mean the server cannot serve now, rather than a statement that will
# fail every time: connection exceptions (class 08), insufficient resources (53: disk full, out
# of memory, too many connections), shutting down or starting up, sessions ended for being idle,
# a read-only server (a standby, after a failover), a statement cancelled or timed out, a lock
# not available, a serialization failure or deadlock between replicas, a server I/O error.
_PG_UNAVAILABLE_CLASSES = ("08", "53")
_PG_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "57P05", "25P03", "25006", "57014", "55P03", "40001",
                          "40P01", "58030"}


class NotConfirmed(Exception):
    """The group-commit writer did not confirm a record within its timeout: the database is
    stalled (a lock held by a stuck replica, a server that stopped answering on a live
    connection). The record may still be committed later; the request was not acknowledged."""

    def __init__(self, timeout_s: float, queued: bool = True) -> None:
        super().__init__(f"the record was not confirmed within {timeout_s:g} s")
        self.timeout_s = timeout_s
        self.queued = queued  # False: failed at once, never queued, so never committed
        self.reason = (f"it did not confirm the record within {timeout_s:g} s" if queued
                       else f"it has not finished a commit for over {timeout_s:g} s")


# Of the unavailable states and codes above, those that come from contention, not from the
# database being down: a deadlock or serialization failure between replicas, a lock or a
# statement timed out, SQLite busy or locked. The next transaction may well go through.
_PG_CONTENTION_STATES = {"40001", "40P01", "55P03", "57014"}
_SQLITE_CONTENTION = {5, 6}


def unavailable(exc: BaseException | None) -> str | None:
    """Why the database could not be used, in a few words, when ``exc`` (or an error it was raised
    from) says it is unreachable or unwritable; None for any other error, a bug among them."""
    found = _classify(exc)
    return None if found is None else found[0]


def contention(exc: BaseException | None) -> bool:
    """Whether ``exc`` is one of ``unavailable``'s errors that come from contention between
    transactions rather than from the database being down."""
    found = _classify(exc)
    return found is not None and found[1]


def _classify(exc: BaseException | None) -> tuple[str, bool] | None:
    """``unavailable``'s reason and whether it is contention, or None."""
    psycopg = sys.modules.get("psycopg")  # only loaded when PostgreSQL is configured
    for err in causes(exc):
        # The words go to the client: no host, port or path (the log has the whole error).
        if isinstance(err, NotConfirmed):
            return err.reason, False
        if isinstance(err, sa.exc.TimeoutError):
            return "every connection to it is busy", True
        if psycopg is not None and isinstance(err, psycopg.Error):
            state = getattr(err, "sqlstate", None)
            if state is None:  # failed in the client: connecting, or the connection broke
                down = isinstance(err, (psycopg.OperationalError, psycopg.InterfaceError))
            else:
                down = state[:2] in _PG_UNAVAILABLE_CLASSES or state in _PG_UNAVAILABLE_STATES
            return ("PostgreSQL unreachable or failing", state in _PG_CONTENTION_STATES) if down else None
        if isinstance(err, sqlite3.OperationalError):
            code = getattr(err, "sqlite_errorcode", None)
            what = _SQLITE_UNAVAILABLE.get(code & 0xFF) if code is not None else None
            return (f"SQLite: {what}", code & 0xFF in _SQLITE_CONTENTION) if what and code is not None else None
    return None


def enable_wal(conn: Any, timeout_s: float = 10.0) -> None:
    """``PRAGMA journal_mode=WAL`` on a sqlite3 connection, retried while another process holds
    the lock. Switching the journal mode can answer "database is locked" at once, without
    SQLite's busy handler, when several workers open a new file together at start-up."""
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    # WAL lets readers (key refresh, decision lookups) run while the writer commits;
    # synchronous=FULL makes each commit durable before a request is acknowledged.
    enable_wal(cur)
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def driver_cursor(conn: Connection) -> Any:
    """The DBAPI cursor under ``conn``, inside its current transaction. For the group-commit
    writer's few fixed statements, where SQLAlchemy's per-statement execution context costs
    more than the statement itself; everything else goes through SQLAlchemy."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


class Database:
    """A SQLAlchemy engine plus the migration step. Safe to share across threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            # Bounds on a server that stops answering (a failover whose old address drops packets):
            # libpq's defaults would wait minutes to connect, and forever on a dead connection.
            # Settings in the URL's query win.
            self.engine = sa.create_engine(url, pool_size=4, max_overflow=4, pool_pre_ping=True,
                                           connect_args=pg_connect_defaults(url))
        self._migrated = False
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings | None) -> Database:
        return cls(database_url_for(settings))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Create missing tables for every registered schema. Idempotent, safe across replicas."""
        with self._lock:
            if self._migrated:
                return
            # Import the areas so their schemas are registered before we create tables.
            from aiguillage.store import schemas  # noqa: F401

            with self.engine.begin() as conn:
                if not self.is_sqlite:
                    # Replicas starting together must not race on CREATE TABLE.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7263551)"))
                _versions.create_all(conn)
                for spec in _SCHEMAS.values():
                    spec.metadata.create_all(conn)
                    row = conn.execute(
                        sa.select(schema_versions.c.version).where(schema_versions.c.name == spec.name)
                    ).first()
                    if row is None:
                        conn.execute(schema_versions.insert().values(name=spec.name, version=spec.version))
                    elif row[0] != spec.version:
                        conn.execute(
                            schema_versions.update()
                            .where(schema_versions.c.name == spec.name)
                            .values(version=spec.version)
                        )
            self._migrated = True

    def dispose(self) -> None:
        self.engine.dispose()
