"""Audit trail costs: append throughput, full verification and inclusion-proof latency.

Usage:
  .venv/bin/python bench/audit_verify.py --n 1000000 [--url DATABASE_URL] [--batch 64]
  .venv/bin/python bench/audit_verify.py --reuse /tmp/audit-bench-<id>   # re-time verify/prove only
Fills a fresh log with N gateway-shaped records through AuditSink (one transaction per --batch
records, as the group-commit writer does), then times AuditLog.verify() (parallel and single
process) and 1,000 AuditLog.prove() calls on random decisions, each checked with verify_proof.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "audit"))

import sqlalchemy as sa  # noqa: E402
from records import make_record  # noqa: E402

from aiguillage.audit import AuditLog, verify_proof  # noqa: E402
from aiguillage.audit.tables import entries  # noqa: E402
from aiguillage.config import default_settings  # noqa: E402
from aiguillage.store.db import Database  # noqa: E402


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def fill(log: AuditLog, n: int, batch: int) -> None:
    sink = log.sink()
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        recs = [make_record(i) for i in range(start, min(n, start + batch))]
        with log.db.engine.begin() as conn:
            sink.write(conn, recs)
    log.checkpoint()
    fill_s = time.perf_counter() - t0
    # The sink alone, without building records or committing: what the writer thread pays per record.
    recs = [make_record(i) for i in range(batch)]
    with log.db.engine.connect() as conn:
        t0 = time.perf_counter()
        for _ in range(20):
            with conn.begin() as tx:
                sink.write(
                    conn, [dict(r, decision_id=f"{r['decision_id'][:-6]}{k:06d}") for k, r in enumerate(recs)]
                )
                tx.rollback()
        sink_us = (time.perf_counter() - t0) / (20 * batch) * 1e6
    print(
        f"append: {n} records in {fill_s:.1f} s = {n / fill_s:,.0f} records/s, one commit per {batch} "
        f"(record building + sink + durable commit); sink.write alone {sink_us:.0f} us/record"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--url", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--reuse", default=None, help="AIGUILLAGE_HOME of an earlier SQLite run: skip filling")
    ap.add_argument("--proofs", type=int, default=1000)
    args = ap.parse_args()
    home = args.reuse or tempfile.mkdtemp(prefix="audit-bench-")
    os.environ["AIGUILLAGE_HOME"] = home
    db = Database(args.url or f"sqlite:///{home}/audit.db")
    log = AuditLog(db, default_settings())
    if not args.reuse:
        fill(log, args.n, args.batch)
    print(f"load average before verify: {os.getloadavg()}")
    for workers in (None, 1):
        t0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
        res = log.verify(workers=workers)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0 + _children_cpu() - k0
        print(
            f"verify (workers={workers or 'auto'}): {res.entries} entries, {res.checkpoints} checkpoints, "
            f"ok={res.ok} in {dt:.2f} s wall, {cpu:.2f} s CPU over all processes"
        )

    seqs = random.Random(1).sample(range(res.entries), k=min(args.proofs, res.entries))
    with db.engine.connect() as conn:
        sample = [r[0] for r in conn.execute(sa.select(entries.c.event_id).where(entries.c.seq.in_(seqs)))]
    random.Random(2).shuffle(sample)
    pem = log.public_key_pem()
    lat = []
    for did in sample:
        t = time.perf_counter()
        proof = log.prove(did)
        lat.append((time.perf_counter() - t) * 1000)
        assert verify_proof(proof, pem)[0]
    lat.sort()
    print(
        f"prove: {len(lat)} proofs, median {statistics.median(lat):.2f} ms, "
        f"p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms, max {lat[-1]:.2f} ms"
    )
    print(f"database: {db.dialect}, load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
