"""The Decision: what the gateway found, allowed, chose and spent for one request.

Each step of the request path adds to it; the audit event, the ledger row and
``GET /v1/decisions/{id}`` are this object serialised, so no later step re-derives what an
earlier one knew.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiguillage.config import Deployment


# Request and decision ids: 32 hex digits, the time in milliseconds (12) then a keyed hash of a
# per-process counter (20). Time first, like UUIDv7, so the stores' indexes on these ids grow
# at their right edge: a random id dirties a random B-tree page per insert, which every commit
# must write out (measured: ~60 µs of writer CPU per request on SQLite). A uuid4 per id would
# also cost a getrandom() syscall; the keyed hash is as unique (64 random key bits per process,
# re-drawn in each forked worker) and, unlike a bare counter, says nothing about how many
# requests other tenants sent in between.
_id_key = os.urandom(8)
_id_seq = itertools.count(1)


def _reseed_ids() -> None:
    global _id_key, _id_seq
    _id_key, _id_seq = os.urandom(8), itertools.count(1)


os.register_at_fork(after_in_child=_reseed_ids)


def new_id() -> str:
    n = next(_id_seq)
    return "%012x%s" % (
        time.time_ns() // 1_000_000,
        hashlib.blake2b(n.to_bytes(8, "little"), key=_id_key, digest_size=10).hexdigest(),
    )


# A data subject's id as recorded and as erased: the same cut on both paths, so that erasing a
# long id finds what was stored under it.
SUBJECT_ID_MAX_CHARS = 200


def decimal_str(d: Decimal) -> str:
    """Exact, never in scientific notation ("0.0000125", not "1.25E-5")."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


@dataclass(slots=True)
class Candidate:
    id: str
    tier: str
    jurisdiction: str
    eligible: bool = True
    excluded_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "tier": self.tier, "jurisdiction": self.jurisdiction,
                "eligible": self.eligible, "excluded_by": self.excluded_by}


@dataclass(slots=True)
class Attempt:
    deployment: str
    outcome: str
    error: str | None
    latency_ms: float
    usage: dict[str, Any] | None = None  # for an answer that was paid for but not used (cascade)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deployment": self.deployment, "outcome": self.outcome, "error": self.error,
               "latency_ms": round(self.latency_ms, 3)}
        if self.usage is not None:
            out["usage"] = self.usage
        return out


@dataclass(slots=True)
class Decision:
    request_id: str
    tenant: str
    key_id: str
    endpoint: str
    requested_model: str
    stream: bool
    subject_id: str
    decision_id: str = field(default_factory=new_id)
    received_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    router: dict[str, Any] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Deployment | None = None
    chosen_provider: str | None = None
    chosen_jurisdiction: str | None = None
    policy: dict[str, Any] = field(default_factory=lambda: {
        "language": None, "inspection": "none", "personal_data": {}, "action": "none"})
    attempts: list[Attempt] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_eur: Decimal = Decimal(0)
    counterfactual_cost_eur: Decimal = Decimal(0)
    counterfactual_deployment: str | None = None
    latency_ms: float = 0.0
    overhead_ms: float = 0.0
    status: int = 200
    error_code: str | None = None
    prompt_hmac: str | None = None
    answer_hmac: str | None = None
    content: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        chosen = None
        if self.chosen is not None:
            chosen = {"id": self.chosen.id, "provider": self.chosen_provider, "tier": self.chosen.tier,
                      "jurisdiction": self.chosen_jurisdiction}
        return {
            "decision_id": self.decision_id, "request_id": self.request_id, "tenant": self.tenant,
            "key_id": self.key_id, "subject_id": self.subject_id, "received_at": self.received_at,
            "answered_at": self.answered_at, "endpoint": self.endpoint, "requested_model": self.requested_model,
            "stream": self.stream, "router": self.router,
            "candidates": [c.as_dict() for c in self.candidates], "chosen": chosen, "policy": self.policy,
            "attempts": [a.as_dict() for a in self.attempts],
            "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens},
            "cost_eur": decimal_str(self.cost_eur), "counterfactual_cost_eur": decimal_str(self.counterfactual_cost_eur),
            "counterfactual_deployment": self.counterfactual_deployment,
            "latency_ms": round(self.latency_ms, 3), "overhead_ms": round(self.overhead_ms, 3),
            "status": self.status, "error_code": self.error_code,
            "prompt_hmac": self.prompt_hmac, "answer_hmac": self.answer_hmac, "content": self.content,
            "notes": self.notes,
        }
