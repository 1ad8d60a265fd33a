"""The ledger sink writes every field of a request record to its column, exactly, on both stores."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from aiguillage.accounting import LedgerSink
from aiguillage.accounting.ledger import ledger
from aiguillage.config import Settings
from aiguillage.decision import new_id
from aiguillage.store.db import Database
from tests.accounting.conftest import SMALL


def _record(**over: object) -> dict:
    rec = {
        "decision_id": new_id(), "request_id": "req-7", "tenant": "acme", "key_id": "k9",
        "received_at": 1_790_000_000.25, "answered_at": 1_790_000_000.75, "endpoint": "/v1/chat/completions",
        "requested_model": "auto", "stream": True, "status": 200,
        "chosen": {"id": SMALL.id, "tier": "small", "provider": "openai", "jurisdiction": "eu"},
        "usage": {"prompt_tokens": 1234, "completion_tokens": 56},
        "cost_eur": "0.0001402", "counterfactual_cost_eur": "2.804E-3", "counterfactual_deployment": "eu-large",
    }
    rec.update(over)
    return rec


@pytest.mark.parametrize("store", ["sqlite_db", "pg_db"])
def test_every_column_round_trips(store: str, request: pytest.FixtureRequest) -> None:
    db: Database = request.getfixturevalue(store)
    full = _record()
    no_cost = _record(cost_eur=None, counterfactual_cost_eur=None)  # recomputed from the catalog
    failed = _record(status=502, usage={"prompt_tokens": 0, "completion_tokens": 0})  # not charged
    with db.engine.begin() as conn:
        LedgerSink(Settings(models=[SMALL])).write(conn, [full, no_cost, failed])
    with db.engine.connect() as conn:
        rows = {r.decision_id: r._mapping for r in conn.execute(sa.select(ledger))}
    assert set(rows) == {full["decision_id"], no_cost["decision_id"]}
    got = rows[full["decision_id"]]
    assert dict(got, cost_eur=None, counterfactual_cost_eur=None) == {
        "decision_id": full["decision_id"], "request_id": "req-7", "tenant": "acme", "key_id": "k9",
        "deployment": SMALL.id, "tier": "small", "endpoint": "/v1/chat/completions", "requested_model": "auto",
        "stream": True, "status": 200, "received_at": 1_790_000_000.25, "answered_at": 1_790_000_000.75,
        "prompt_tokens": 1234, "completion_tokens": 56, "cost_eur": None, "counterfactual_cost_eur": None,
        "counterfactual_deployment": "eu-large",
    }
    assert Decimal(got["cost_eur"]) == Decimal("0.0001402")  # exact, not a float
    assert Decimal(got["counterfactual_cost_eur"]) == Decimal("0.002804")
    if db.is_sqlite:  # exact decimal text in positional notation
        with db.engine.connect() as conn:
            stored = conn.exec_driver_sql("SELECT cost_eur, counterfactual_cost_eur FROM usage_ledger "
                                          "WHERE decision_id = ?", (full["decision_id"],)).one()
        assert tuple(stored) == ("0.0001402", "0.002804")
    # 1234 input and 56 output tokens at 0.1 / 0.3 EUR per million
    recomputed = rows[no_cost["decision_id"]]
    assert Decimal(recomputed["cost_eur"]) == Decimal("0.0001402")
    assert Decimal(recomputed["counterfactual_cost_eur"]) == Decimal("0.0001402")
