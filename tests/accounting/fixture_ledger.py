"""A hand-computed ledger fixture: records as the gateway builds them, and the expected sums."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def ts(day: int, month: int = 11, hour: int = 10) -> float:
    return datetime(2026, month, day, hour, tzinfo=UTC).timestamp()


def record(n: int, tenant: str, dep: str | None, tier: str | None, prompt: int | None, completion: int | None,
           cost: str | None, cf: str | None, status: int = 200, at: float | None = None) -> dict[str, Any]:
    return {
        "decision_id": f"dec{n:04d}", "request_id": f"req{n}", "tenant": tenant, "key_id": f"key-{tenant}",
        "subject_id": tenant, "received_at": at if at is not None else ts(2), "answered_at": None,
        "endpoint": "/v1/chat/completions", "requested_model": "auto", "stream": n % 2 == 0,
        "router": {"strategy": "cheapest", "version": "1", "reason": "", "details": {}}, "candidates": [],
        "chosen": None if dep is None else {"id": dep, "provider": "openai", "tier": tier, "jurisdiction": "eu"},
        "policy": {}, "attempts": [],
        "usage": None if prompt is None else {"prompt_tokens": prompt, "completion_tokens": completion},
        "cost_eur": cost, "counterfactual_cost_eur": cf, "counterfactual_deployment": "eu-large",
        "latency_ms": 1.0, "overhead_ms": 0.1, "status": status, "error_code": None,
        "prompt_hmac": None, "answer_hmac": None, "content": None,
    }


RECORDS = [
    record(1, "acme", "eu-small", "small", 1000, 500, "0.00025", "0.005"),
    record(2, "acme", "eu-small", "small", 2000, 1000, "0.0005", "0.01"),
    record(3, "acme", "eu-large", "large", 1000, 1000, "0.008", "0.008"),
    record(4, "acme", None, None, None, None, "0", "0", status=429),  # refused: a row, no cost
    record(5, "acme", None, None, None, None, None, None, status=500),  # failed, no usage: no row
    # The client disconnected mid-stream: charged from the final usage even though the status is 502.
    record(6, "acme", "eu-medium", "medium", 100, 0, "0.00004", "0.0002", status=502),
    record(7, "beta", "eu-medium", "medium", 3000, 2000, "0.0036", "0.018"),
    record(8, "beta", "eu-small", "small", 500, 500, "0.0002", "0.004", at=ts(22)),
    record(9, "beta", "eu-small", "small", 100, 100, "0.00004", "0.0008", at=ts(30, month=10)),
]

# Everything (8 rows: record 5 is not charged).
ALL = {"requests": 8, "total_cost_eur": Decimal("0.01263"), "counterfactual_cost_eur": Decimal("0.046"),
       "savings_eur": Decimal("0.03337")}
# --since 2026-11-01 (record 9 is October).
NOV = {"requests": 7, "prompt_tokens": 7600, "completion_tokens": 5000, "total_cost_eur": Decimal("0.01259"),
       "counterfactual_cost_eur": Decimal("0.0452"), "savings_eur": Decimal("0.03261")}
NOV_BY_TENANT = {
    "acme": {"requests": 5, "total_cost_eur": Decimal("0.00879"), "counterfactual_cost_eur": Decimal("0.0232")},
    "beta": {"requests": 2, "total_cost_eur": Decimal("0.0038"), "counterfactual_cost_eur": Decimal("0.022")},
}
NOV_BY_DEPLOYMENT = {
    "(none)": {"requests": 1, "total_cost_eur": Decimal("0"), "counterfactual_cost_eur": Decimal("0")},
    "eu-large": {"requests": 1, "total_cost_eur": Decimal("0.008"), "counterfactual_cost_eur": Decimal("0.008")},
    "eu-medium": {"requests": 2, "total_cost_eur": Decimal("0.00364"), "counterfactual_cost_eur": Decimal("0.0182")},
    "eu-small": {"requests": 3, "total_cost_eur": Decimal("0.00095"), "counterfactual_cost_eur": Decimal("0.019")},
}
# 12.59 / 7 EUR per 1,000 requests, to 28 significant digits.
NOV_COST_PER_1K = Decimal("1.798571428571428571428571429")
# --project-monthly-requests 70000: 10,000 times the 7 requests.
NOV_PROJECTION = {"monthly_requests": 70000, "total_cost_eur": Decimal("125.9"),
                  "counterfactual_cost_eur": Decimal("452"), "savings_eur": Decimal("326.1")}
# --tenant beta, no dates.
BETA = {"requests": 3, "total_cost_eur": Decimal("0.00384"), "counterfactual_cost_eur": Decimal("0.0228")}
