"""Request records shaped like the gateway's (see the per-request record contract)."""

from __future__ import annotations

import time
import uuid
from typing import Any


def make_record(
    i: int,
    tenant: str = "acme",
    subject: str | None = None,
    content: bool = False,
    received_at: float | None = None,
) -> dict[str, Any]:
    t = time.time() if received_at is None else received_at
    return {
        "decision_id": uuid.uuid4().hex,
        "request_id": f"req-{i}",
        "tenant": tenant,
        "key_id": "k1",
        "subject_id": subject or tenant,
        "received_at": t,
        "answered_at": t + 0.2,
        "endpoint": "/v1/chat/completions",
        "requested_model": "auto",
        "stream": False,
        "router": {"strategy": "cheapest", "version": "1", "reason": "smallest eligible", "details": {}},
        "candidates": [
            {
                "id": "local-small",
                "tier": "small",
                "jurisdiction": "on_prem",
                "eligible": True,
                "excluded_by": None,
            },
            {
                "id": "us-large",
                "tier": "large",
                "jurisdiction": "us",
                "eligible": False,
                "excluded_by": "jurisdiction",
            },
        ],
        "chosen": {"id": "local-small", "provider": "local", "tier": "small", "jurisdiction": "on_prem"},
        "policy": {
            "language": "fr",
            "inspection": "patterns",
            "personal_data": {"EMAIL": 1},
            "action": "allow",
        },
        "attempts": [{"deployment": "local-small", "outcome": "ok", "error": None, "latency_ms": 12.5}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 30 + i % 7},
        "cost_eur": "0.000123",
        "counterfactual_cost_eur": "0.0042",
        "counterfactual_deployment": "us-large",
        "latency_ms": 210.0,
        "overhead_ms": 1.2,
        "status": 200,
        "error_code": None,
        "prompt_hmac": "a" * 64,
        "answer_hmac": "b" * 64,
        "content": {"prompt": f"Bonjour {i}, mon email est jean@example.fr", "answer": "Réponse"}
        if content
        else None,
    }


def fill(log: Any, n: int, batch: int = 4, **kw: Any) -> list[str]:
    """Append ``n`` records through the sink in writer-sized transactions; return their ids."""
    ids: list[str] = []
    sink = log.sink()
    for start in range(0, n, batch):
        recs = [make_record(i, **kw) for i in range(start, min(n, start + batch))]
        with log.db.engine.begin() as conn:
            sink.write(conn, recs)
        ids.extend(r["decision_id"] for r in recs)
    return ids


def tree_state(log: Any) -> Any:
    """The audit_state row (the signed head and frontier) as it is now."""
    import sqlalchemy as sa

    from aiguillage.audit.tables import state

    with log.db.engine.connect() as conn:
        return conn.execute(sa.select(state)).one()


def roll_back_to(log: Any, saved: Any) -> None:
    """What restoring an older copy of the database does: later entries and checkpoints gone,
    the tree state as ``saved``. Every remaining head and checkpoint is genuinely signed."""
    import sqlalchemy as sa

    from aiguillage.audit.tables import checkpoints, entries, state

    with log.db.engine.begin() as conn:
        conn.execute(sa.delete(entries).where(entries.c.seq >= saved.size))
        conn.execute(sa.delete(checkpoints).where(checkpoints.c.size > saved.size))
        conn.execute(sa.update(state).values({c: getattr(saved, c) for c in saved._fields if c != "id"}))
