"""Outcomes collected from live traffic, to train the router on a tenant's own work.

Three sources, all kept on the gateway's own database:
- the answer itself (prompt and response) when the tenant's policy has ``collect_outcomes``;
- ``POST /v1/feedback`` verdicts (score in [0, 1]) from the application, per decision;
- shadow mode: a share of requests also goes to a second deployment and a judge grades both.

``export_csv`` writes them in the outcome format that ``aiguillage router train`` reads
(``prompt``, one score column per deployment, ``<deployment>_response`` columns).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aiguillage.store.db import Database, register_schema

metadata = sa.MetaData()
samples = sa.Table(
    "outcome_samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("decision_id", sa.String(32), nullable=False, index=True),
    sa.Column("tenant", sa.String(200), nullable=False, index=True),
    sa.Column("deployment", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # primary | shadow
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("judge_score", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(200), nullable=False, index=True),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
register_schema("outcomes", 1, metadata)

OUTCOME_KEY = "_outcome"


class OutcomeSink:
    """Takes the ``_outcome`` sample off each record (so no other sink, in particular the audit
    log, ever sees the text) and stores it. Must be the first sink of the writer."""

    def write(self, conn: Connection, records: Sequence[dict[str, Any]]) -> None:
        rows = []
        for r in records:
            sample = r.pop(OUTCOME_KEY, None)  # type: ignore[attr-defined]
            if sample:
                rows.append({"decision_id": r["decision_id"], "tenant": r["tenant"], "role": "primary",
                             "judge_score": None, "created_at": time.time(), **sample})
        if rows:
            conn.execute(samples.insert(), rows)


class Outcomes:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_feedback(self, decision_id: str, tenant: str, score: float) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(feedback.delete().where(feedback.c.decision_id == decision_id))
            conn.execute(feedback.insert().values(decision_id=decision_id, tenant=tenant, score=score,
                                                  created_at=time.time()))

    def record_shadow(self, decision_id: str, tenant: str, graded: list[tuple[str, str, str, float | None]]) -> None:
        """``graded``: (deployment, prompt, response, judge score) for the primary and the shadow answer."""
        now = time.time()
        with self.db.engine.begin() as conn:
            for dep, prompt, response, score in graded:
                role = "primary" if dep == graded[0][0] else "shadow"
                existing = conn.execute(sa.select(samples.c.id).where(
                    samples.c.decision_id == decision_id, samples.c.deployment == dep)).first()
                if existing is not None:
                    conn.execute(samples.update().where(samples.c.id == existing[0]).values(judge_score=score))
                else:
                    conn.execute(samples.insert().values(
                        decision_id=decision_id, tenant=tenant, deployment=dep, role=role, prompt=prompt,
                        response=response, judge_score=score, created_at=now))

    def rows(self, tenant: str | None = None) -> tuple[list[str], list[dict[str, Any]]]:
        q = sa.select(samples, feedback.c.score.label("feedback_score")).select_from(
            samples.outerjoin(feedback, feedback.c.decision_id == samples.c.decision_id))
        if tenant:
            q = q.where(samples.c.tenant == tenant)
        with self.db.engine.connect() as conn:
            found = conn.execute(q.order_by(samples.c.created_at, samples.c.id)).mappings().all()
        by_decision: dict[str, dict[str, Any]] = {}
        deployments: list[str] = []
        for r in found:
            row = by_decision.setdefault(r["decision_id"], {"prompt": r["prompt"]})
            # The application's own verdict outranks the judge's for the answer it actually got.
            score = r["feedback_score"] if r["role"] == "primary" and r["feedback_score"] is not None \
                else r["judge_score"]
            if score is None:
                continue
            row[r["deployment"]] = score
            row[f"{r['deployment']}_response"] = r["response"]
            if r["deployment"] not in deployments:
                deployments.append(r["deployment"])
        rows = [r for r in by_decision.values() if len(r) > 1]
        return deployments, rows

    def export_csv(self, out: TextIO, tenant: str | None = None) -> int:
        deployments, rows = self.rows(tenant)
        fields = ["prompt", *deployments, *(f"{d}_response" for d in deployments)]
        w = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
        return len(rows)
