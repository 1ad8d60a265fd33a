"""Prometheus metrics. With several worker processes, prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``aiguillage serve``) aggregates them at scrape time."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LAT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1)

REQUESTS = Counter("aiguillage_requests", "Requests answered", ["tenant", "deployment", "status"])
LATENCY = Histogram("aiguillage_request_latency_seconds", "End-to-end latency", ["deployment"], buckets=_LAT_BUCKETS)
OVERHEAD = Histogram("aiguillage_overhead_seconds", "Time spent in the gateway itself, excluding upstream calls",
                     buckets=_OVERHEAD_BUCKETS)
TOKENS = Counter("aiguillage_tokens", "Tokens processed", ["tenant", "deployment", "kind"])
COST = Counter("aiguillage_cost_eur", "Spend in EUR", ["tenant", "deployment"])
ROUTED = Counter("aiguillage_routed", "Routing decisions per chosen deployment", ["strategy", "deployment"])
POLICY = Counter("aiguillage_policy_actions", "Personal-data policy actions taken", ["tenant", "action"])
FALLBACKS = Counter("aiguillage_fallbacks", "Attempts that failed over to another deployment", ["deployment", "error"])
BREAKER = Gauge("aiguillage_breaker_open", "1 while a deployment's circuit breaker is open", ["deployment"],
                multiprocess_mode="max")
BUDGET_REMAINING = Gauge("aiguillage_budget_remaining_eur", "Remaining budget", ["scope", "owner"],
                         multiprocess_mode="mostrecent")
BUDGET_WARNINGS = Counter("aiguillage_budget_warnings", "Soft-budget warnings", ["scope", "owner"])


_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, cached: the library's lookup (a lock and a tuple of label
    values) costs more than the increment, and the request path does several per request."""
    key = (id(metric), labels)
    got = _children.get(key)
    if got is None:
        if len(_children) >= 20_000:  # label values come from tenants and deployments: bounded, but be safe
            _children.clear()
        got = _children[key] = metric.labels(*labels)
    return got


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
