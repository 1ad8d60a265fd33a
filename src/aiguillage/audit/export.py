"""Export the log for a period as JSON Lines (every field) or CSV (one flat row per event)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aiguillage.audit.tables import entries

CSV_COLUMNS = [
    "seq",
    "kind",
    "event_id",
    "tenant",
    "received_at",
    "answered_at",
    "endpoint",
    "requested_model",
    "router_strategy",
    "router_version",
    "chosen_deployment",
    "chosen_jurisdiction",
    "personal_data",
    "policy_action",
    "prompt_tokens",
    "completion_tokens",
    "cost_eur",
    "latency_ms",
    "status",
    "error_code",
    "fallbacks",
    "prompt_hmac",
    "answer_hmac",
    "details",
]


def _cell(v: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is quoted:
    tenants, model names and ids partly come from clients (OWASP's CSV injection advice)."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def _iso(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(float(ts), UTC).isoformat()


def _csv_row(
    seq: int, kind: str, event_id: str, tenant: str, ts: float, ev: dict[str, Any] | None
) -> list[Any]:
    ev = ev or {}
    if kind != "decision":
        return [
            seq,
            kind,
            event_id,
            tenant,
            _iso(ts),
            *[""] * (len(CSV_COLUMNS) - 6),
            orjson.dumps(ev, option=orjson.OPT_SORT_KEYS).decode() if ev else "pruned",
        ]
    router = ev.get("router") or {}
    chosen = ev.get("chosen") or {}
    policy = ev.get("policy") or {}
    usage = ev.get("usage") or {}
    pii = policy.get("personal_data") or {}
    return [
        seq,
        kind,
        event_id,
        tenant,
        _iso(ts),
        _iso(ev.get("answered_at")),
        ev.get("endpoint"),
        ev.get("requested_model"),
        router.get("strategy"),
        router.get("version"),
        chosen.get("id"),
        chosen.get("jurisdiction"),
        ";".join(f"{k}:{v}" for k, v in sorted(pii.items())),
        policy.get("action"),
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        ev.get("cost_eur"),
        ev.get("latency_ms"),
        ev.get("status"),
        ev.get("error_code"),
        ";".join(f"{a.get('deployment')}:{a.get('outcome')}" for a in ev.get("attempts") or []),
        ev.get("prompt_hmac"),
        ev.get("answer_hmac"),
        "",
    ]


def export_lines(engine: Engine, since: float | None, until: float | None, fmt: str) -> Iterator[str]:
    """Lines (each ending in a newline) for events with since <= received_at < until."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown export format '{fmt}': use jsonl or csv")
    query = sa.select(
        entries.c.seq, entries.c.kind, entries.c.event_id, entries.c.tenant, entries.c.ts, entries.c.body
    ).order_by(entries.c.seq)
    if since is not None:
        query = query.where(entries.c.ts >= since)
    if until is not None:
        query = query.where(entries.c.ts < until)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(CSV_COLUMNS)
        yield _drain(buf)
    with engine.connect() as conn:
        for part in conn.execution_options(yield_per=5000).execute(query).partitions():
            for seq, kind, event_id, tenant, ts, body in part:
                ev = orjson.loads(body) if body is not None else None
                if fmt == "jsonl":
                    line = {
                        "seq": seq,
                        "kind": kind,
                        "event_id": event_id,
                        "tenant": tenant,
                        "ts": ts,
                        "event": ev,
                    }
                    yield orjson.dumps(line).decode() + "\n"
                else:
                    writer.writerow([_cell(v) for v in _csv_row(seq, kind, event_id, tenant, ts, ev)])
                    yield _drain(buf)


def _drain(buf: io.StringIO) -> str:
    out = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return out
