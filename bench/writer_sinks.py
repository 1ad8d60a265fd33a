"""CPU cost of the group-commit writer's sinks per batch (audit chain + ledger + outcomes), no HTTP.

    .venv/bin/python bench/writer_sinks.py                 # SQLite file, batches of 1 and 16
    .venv/bin/python bench/writer_sinks.py --database-url postgresql+psycopg://127.0.0.1/test

Runs the gateway's real sinks (built by ``build_extensions``'s order: outcomes, ledger, audit)
inside real transactions on a fresh database, with a record shaped like the gateway's own, and
prints the thread CPU time per batch spent in the sinks (before the commit), in each sink, and in the commit
(``--no-audit``: the outcome and ledger sinks only, to see what the audit log adds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiguillage.accounting.ledger import LedgerSink
from aiguillage.audit import AuditLog
from aiguillage.config import parse_settings
from aiguillage.decision import new_id
from aiguillage.outcomes import OutcomeSink
from aiguillage.store.db import Database


def record(i: int) -> dict:
    return {
        "decision_id": new_id(), "request_id": f"req-{i}", "tenant": "acme", "key_id": "k1",
        "subject_id": None, "received_at": time.time(), "answered_at": time.time(), "endpoint": "chat",
        "requested_model": "auto", "stream": False, "router": {"strategy": "cheapest", "version": "1"},
        "candidates": [{"id": "bench-model", "eligible": True, "reason": "cheapest eligible"}],
        "chosen": {"id": "bench-model", "provider": "openai", "tier": "small", "jurisdiction": "eu"},
        "policy": {"pii": {}, "action": "allow"}, "attempts": [{"deployment": "bench-model", "status": 200}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9}, "cost_eur": "0.0000078",
        "counterfactual_cost_eur": "0.0000078", "counterfactual_deployment": "bench-model",
        "latency_ms": 1.2, "overhead_ms": 1.0, "status": 200, "error_code": None,
        "prompt_hmac": "ab" * 32, "answer_hmac": "cd" * 32, "content": None, "notes": [],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16])
    ap.add_argument("--no-audit", action="store_true", help="outcomes and ledger only")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiguillage-writer-bench-"))
    os.environ["AIGUILLAGE_AUDIT_KEY_DIR"] = str(work / "keys")
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    settings = parse_settings({"models": [{
        "id": "bench-model", "provider": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m",
        "api_key": "k", "tier": "small", "jurisdiction": "eu",
        "price_eur_per_mtok": {"input": "0.2", "output": "0.6"}, "context_window": 8192}],
        "database_url": url}, "bench")
    db = Database(url)
    db.migrate()
    audit = AuditLog(db, settings)
    sinks = [OutcomeSink(), LedgerSink(settings)] + ([] if args.no_audit else [audit.sink()])
    conn = db.engine.connect()
    names = [type(s).__name__.removesuffix("Sink").lower() for s in sinks]
    print(f"| database | audit | batch | sinks CPU µs/batch (p50) | {' | '.join(names)} (p50 each) "
          "| commit CPU µs/batch (p50) | commit wall µs/batch (p50) | sinks + commit CPU µs/record |")
    print("|---|---|---:|---:|" + "---:|" * len(names) + "---:|---:|---:|")
    for size in args.sizes:
        sink_cpu, commit_cpu, commit_wall = [], [], []
        each: list[list[float]] = [[] for _ in sinks]
        for b in range(args.batches):
            recs = [record(b * size + i) for i in range(size)]
            t0 = time.thread_time_ns()
            tx = conn.begin()
            for k, s in enumerate(sinks):
                ts = time.thread_time_ns()
                s.write(conn, recs)
                each[k].append((time.thread_time_ns() - ts) / 1000)
            t1 = time.thread_time_ns()
            w0 = time.perf_counter_ns()
            tx.commit()
            sink_cpu.append((t1 - t0) / 1000)
            commit_cpu.append((time.thread_time_ns() - t1) / 1000)
            commit_wall.append((time.perf_counter_ns() - w0) / 1000)
        p50s, p50cc = statistics.median(sink_cpu), statistics.median(commit_cpu)
        per_sink = " | ".join(f"{statistics.median(v):.0f}" for v in each)
        print(f"| {db.engine.dialect.name} | {'off' if args.no_audit else 'on'} | {size} | {p50s:.0f} | {per_sink} | {p50cc:.0f} "
              f"| {statistics.median(commit_wall):.0f} | {(p50s + p50cc) / size:.0f} |")
    conn.close()
    if not args.no_audit:
        print(f"verify: {audit.verify()}", file=sys.stderr)


if __name__ == "__main__":
    main()
