"""Prometheus counters for budget and rate-limit decisions (default registry)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["refused", "soft_exceeded", "near_limit", "downgraded"]

_EVENTS = Counter(
    "aiguillage_budget_events",
    "Budget and rate-limit decisions: refused_* (429), soft_exceeded, near_limit, downgraded.",
    ["tenant", "event"],
)


def refused(tenant: str, why: str) -> None:
    _EVENTS.labels(tenant, f"refused_{why}").inc()


def soft_exceeded(tenant: str) -> None:
    _EVENTS.labels(tenant, "soft_exceeded").inc()


def near_limit(tenant: str) -> None:
    _EVENTS.labels(tenant, "near_limit").inc()


def downgraded(tenant: str) -> None:
    _EVENTS.labels(tenant, "downgraded").inc()
