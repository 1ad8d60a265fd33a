"""The usage ledger: one row per request, written by the group-commit writer.

Costs are stored exactly: ``NUMERIC`` (unbounded) on PostgreSQL, the decimal's text on SQLite
(whose NUMERIC is a float). Sums go through ``exact_sum``: PostgreSQL's own ``sum`` over
NUMERIC, or on SQLite a Python aggregate registered on the connection, so both give the same
exact ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator

from aiguillage.accounting.cost import EXACT, ZERO, cost_of, decimal_str
from aiguillage.config import Settings
from aiguillage.store.db import Database, driver_cursor, register_schema

__all__ = ["ledger", "LedgerSink", "ledger_cells", "exact_sum", "spent_in_period", "prepare_exact_sum"]


class ExactDecimal(TypeDecorator[Decimal]):
    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(80))
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return decimal_str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = sa.MetaData()
ledger = sa.Table(
    "usage_ledger",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(128)),
    sa.Column("tenant", sa.String(200), nullable=False),
    sa.Column("key_id", sa.String(64)),
    sa.Column("deployment", sa.String(200)),
    sa.Column("tier", sa.String(16)),
    sa.Column("endpoint", sa.String(64)),
    sa.Column("requested_model", sa.String(200)),
    sa.Column("stream", sa.Boolean),
    sa.Column("status", sa.Integer),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("answered_at", sa.Float),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost_eur", ExactDecimal(), nullable=False),
    sa.Column("counterfactual_cost_eur", ExactDecimal(), nullable=False),
    sa.Column("counterfactual_deployment", sa.String(200)),
    sa.Index("ix_usage_ledger_tenant_time", "tenant", "received_at"),
    sa.Index("ix_usage_ledger_time", "received_at"),
)
register_schema("accounting", 1, metadata)


def _cost(value: Any, as_text: bool) -> Decimal | str | None:
    """An exact cost cell: SQLite stores the decimal as text, PostgreSQL as numeric."""
    if value is None or value == "":
        return None
    exact = Decimal(str(value))  # also refuses a malformed string before it reaches the table
    return decimal_str(exact) if as_text else exact


def ledger_cells(record: dict[str, Any], settings: Settings | None = None, as_text: bool = False) -> tuple | None:
    """The ledger row (in ``_LEDGER_COLUMNS`` order) for one request record, or None when the
    request is not charged. ``as_text``: costs as exact decimal strings (SQLite). Built as a
    tuple straight from the record: this runs once per request on the writer thread."""
    usage = record.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    status = record.get("status")
    if status is not None and status >= 500 and not (prompt or completion):
        return None
    chosen = record.get("chosen") or {}
    dep_id = chosen.get("id")
    cost = _cost(record.get("cost_eur"), as_text)
    if cost is None:  # the gateway should send it; recompute from the catalog rather than lose it
        dep = settings.deployment(dep_id) if settings and dep_id else None
        cost = _cost(cost_of(dep, prompt, completion) if dep else ZERO, as_text)
    cf = _cost(record.get("counterfactual_cost_eur"), as_text)
    return (
        record["decision_id"], record.get("request_id"), record.get("tenant") or "", record.get("key_id"),
        dep_id, chosen.get("tier"), record.get("endpoint"), record.get("requested_model"),
        bool(record.get("stream")), status, float(record.get("received_at") or 0.0), record.get("answered_at"),
        prompt, completion, cost, cost if cf is None else cf, record.get("counterfactual_deployment"),
    )


# ledger_cells' order; checked against the table so a new column cannot shift the cells silently.
_LEDGER_COLUMNS = [
    "decision_id", "request_id", "tenant", "key_id", "deployment", "tier", "endpoint", "requested_model",
    "stream", "status", "received_at", "answered_at", "prompt_tokens", "completion_tokens", "cost_eur",
    "counterfactual_cost_eur", "counterfactual_deployment",
]
if _LEDGER_COLUMNS != [c.name for c in ledger.columns]:
    raise RuntimeError("usage_ledger's columns changed: update ledger_cells and _LEDGER_COLUMNS together")
_PG_ROWS_PER_INSERT = 1000


class LedgerSink:
    """Group-commit sink: one INSERT per batch, inside the writer's transaction, straight to the
    driver (SQLAlchemy's per-row bind processing cost more than the insert on the writer thread)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings

    def write(self, conn: Connection, records: Sequence[dict[str, Any]]) -> None:
        sqlite = conn.dialect.name == "sqlite"
        cells = [c for c in (ledger_cells(rec, self.settings, sqlite) for rec in records) if c is not None]
        if not cells:
            return
        cur = driver_cursor(conn)
        if sqlite:  # in-process: executemany is as fast as one statement
            cur.executemany(_insert_sql("?", 1), cells)
        else:  # PostgreSQL: multi-row INSERTs (at most 65,535 parameters per statement)
            for i in range(0, len(cells), _PG_ROWS_PER_INSERT):
                part = cells[i:i + _PG_ROWS_PER_INSERT]
                cur.execute(_insert_sql("%s", len(part)), tuple(v for row in part for v in row))


def _insert_sql(mark: str, n_rows: int) -> str:
    row = f"({', '.join([mark] * len(_LEDGER_COLUMNS))})"
    return f"INSERT INTO usage_ledger ({', '.join(_LEDGER_COLUMNS)}) VALUES {', '.join([row] * n_rows)}"


class _ExactSum:
    """SQLite aggregate: sums decimal strings exactly and returns the sum as a string."""

    def __init__(self) -> None:
        self.total = ZERO

    def step(self, value: Any) -> None:
        if value is not None:
            self.total = EXACT.add(self.total, Decimal(str(value)))

    def finalize(self) -> str:
        return decimal_str(self.total)


def prepare_exact_sum(conn: Connection) -> None:
    """Register ``exact_sum`` on this SQLite connection (a no-op on PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        raw.create_aggregate("exact_sum", 1, _ExactSum)  # type: ignore[union-attr]


def exact_sum(conn: Connection, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An exact SUM of a cost column; the result converts with ``Decimal(str(x))``."""
    if conn.dialect.name == "sqlite":
        return sa.func.exact_sum(column)
    return sa.func.coalesce(sa.func.sum(column), 0)


def spent_in_period(db: Database, tenant: str, key_id: str | None, start: float, end: float) -> Decimal:
    """What the ledger says was spent in [start, end): seeds a budget counter that is not in memory/Redis."""
    with db.engine.connect() as conn:
        prepare_exact_sum(conn)
        cond = [ledger.c.tenant == tenant, ledger.c.received_at >= start, ledger.c.received_at < end]
        if key_id is not None:
            cond.append(ledger.c.key_id == key_id)
        value = conn.execute(sa.select(exact_sum(conn, ledger.c.cost_eur)).where(*cond)).scalar()
    return Decimal(str(value)) if value is not None else ZERO
