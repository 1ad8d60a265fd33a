"""Shadow mode: grade a second deployment's answer next to the one the client got.

For a configured share of a tenant's requests, after the client has its answer, the same
request goes to the shadow deployment and a judge deployment scores both answers. The two
graded samples become outcome rows (``aiguillage router export-outcomes``). Both side calls
obey the tenant's policy exactly like a fallback would (a shadow or judge outside the
allowed jurisdictions is skipped, never called) and are recorded and charged as their own
decisions, so the ledger and the audit trail see every cent and every byte that left.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiguillage.api.validate import BUDGET_OUTPUT_CAP, ChatRequest
from aiguillage.call import answer_text
from aiguillage.config import Deployment, TenantPolicy
from aiguillage.decision import Attempt, Decision
from aiguillage.errors import GatewayError, UpstreamError, UpstreamTimeout
from aiguillage.providers.http import abort_after
from aiguillage.tokens import max_prompt_tokens, messages_text

if TYPE_CHECKING:
    from aiguillage.pipeline import ChatPipeline, Prepared

log = logging.getLogger(__name__)

JUDGE_PROMPT = """You are grading two answers to the same request. Score each from 0 (useless or wrong) to 10 \
(fully correct and helpful).

Request:
{prompt}

Answer A:
{a}

Answer B:
{b}

Reply with exactly one line of the form: A=<score> B=<score>"""
_SCORES = re.compile(r"A\s*[=:]\s*(\d+(?:\.\d+)?)\D+B\s*[=:]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_scores(text: str) -> tuple[float, float] | None:
    m = _SCORES.search(text)
    if not m:
        return None
    a, b = (min(10.0, float(x)) / 10.0 for x in m.groups())
    return a, b


class Shadow:
    def __init__(self, pipeline: ChatPipeline, outcomes: Any) -> None:
        self.pipeline = pipeline
        self.gw = pipeline.gw
        self.outcomes = outcomes
        self.tasks: set[asyncio.Task[None]] = set()

    def _allowed(self, d: Deployment, policy: TenantPolicy, prep: Prepared) -> str | None:
        j = self.gw.jurisdiction_of(d)
        if policy.allowed_jurisdictions is not None and j not in policy.allowed_jurisdictions:
            return f"jurisdiction '{j}' not allowed"
        if prep.verdict.action == "local_only" and j != "on_prem":
            return "personal data must stay on_prem"
        return None

    def maybe_launch(self, req: ChatRequest, prep: Prepared, primary: Deployment, answer: str) -> None:
        policy = self.gw.policy(prep.decision.tenant)
        spec = policy.shadow
        if spec is None or random.random() >= spec.share:
            return
        shadow = self.gw.settings.deployment(spec.deployment)
        judge = self.gw.settings.deployment(spec.judge)
        if shadow is None or judge is None or shadow.id == primary.id:
            return
        for d in (shadow, judge):
            if why := self._allowed(d, policy, prep):
                prep.decision.notes.append(f"shadow skipped: '{d.id}' {why}")
                return
        task = asyncio.create_task(self._run(req, prep, primary, answer, shadow, judge))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _side_call(self, prep: Prepared, d: Deployment, body: dict[str, Any], endpoint: str) -> str | None:
        parent = prep.decision
        dec = Decision(request_id=parent.request_id, tenant=parent.tenant, key_id=parent.key_id,
                       endpoint=endpoint, requested_model=d.id, stream=False, subject_id=parent.subject_id)
        dec.router = {"strategy": "shadow", "version": "1", "reason": f"side call for decision {parent.decision_id}",
                      "details": {"parent_decision": parent.decision_id}}
        dec.counterfactual_deployment = d.id
        t0 = time.perf_counter()
        # Side calls are best effort: they respect the breaker and never queue for a concurrency
        # slot ahead of client traffic; they count as the deployment's calls for its breaker.
        health = getattr(self.gw, "health", None)
        slot = None
        if health is not None:
            admitted, _note = health.admit(d.id)
            slot = health.slot(d) if admitted else None
            if slot is None or not slot.take_free():
                if admitted:
                    health.release_probe(d.id)
                log.info("%s call to '%s' for %s skipped: %s", endpoint, d.id, parent.decision_id,
                         "its circuit breaker is open" if not admitted else "no free concurrency slot")
                return None
        try:
            return await self._paid_call(prep, dec, d, body, t0, health)
        except BaseException:
            # An unexpected failure gave no verdict on the deployment: free a half-open probe
            # this call may hold, or the breaker would refuse client traffic for good.
            if health is not None:
                health.release_probe(d.id)
            raise
        finally:
            if slot is not None:
                await slot.__aexit__(None, None, None)

    async def _paid_call(self, prep: Prepared, dec: Decision, d: Deployment, body: dict[str, Any], t0: float,
                         health: Any) -> str | None:
        parent = prep.decision
        accounting = self.gw.accounting
        admission = None
        try:
            # Side calls spend the tenant's money: the same budgets and rate limits apply.
            if accounting is not None:
                admission = await accounting.admit(
                    parent.tenant, parent.key_id, self.gw.policy(parent.tenant),
                    max_prompt_tokens(messages_text(body.get("messages", [])), len(body.get("messages", []))),
                    int(body.get("max_tokens") or BUDGET_OUTPUT_CAP), [d])
                if "max_tokens" not in body:
                    body = {**body, "max_tokens": BUDGET_OUTPUT_CAP}
            provider = self.gw.providers[d.id]
            limit = min(self.gw.settings.resilience.deadline_s, provider.timeouts.total)
            with abort_after(limit):
                async with asyncio.timeout(limit):
                    resp = await provider.complete(body)
        except (GatewayError, TimeoutError) as exc:
            err = exc if isinstance(exc, GatewayError) else UpstreamTimeout("side call timed out", deployment=d.id)
            if admission is not None:
                await accounting.settle(admission, Decimal(0), 0)
            dec.attempts.append(Attempt(d.id, "error", f"{err.code}: {err}", (time.perf_counter() - t0) * 1000))
            dec.status, dec.error_code = err.status, err.code
            if health is not None:
                # Budget refusals and client-side errors say nothing against the deployment.
                upstream_fault = isinstance(err, UpstreamError) and (err.retryable or isinstance(err, UpstreamTimeout))
                if upstream_fault:
                    health.observe(d.id, False)
                else:
                    health.release_probe(d.id)
            await self.pipeline.record(dec, t0, time.perf_counter() - t0, background=True)
            return None
        dec.attempts.append(Attempt(d.id, "ok", None, (time.perf_counter() - t0) * 1000))
        if health is not None:
            health.observe(d.id, True)
        text = answer_text(resp)
        self.pipeline.charge(dec, d, resp.get("usage"), text, body_prompt_tokens(body))
        if admission is not None:
            await accounting.settle(admission, dec.cost_eur, dec.prompt_tokens + dec.completion_tokens)
        await self.pipeline.record(dec, t0, time.perf_counter() - t0, background=True)
        return text

    async def _run(self, req: ChatRequest, prep: Prepared, primary: Deployment, answer: str,
                   shadow: Deployment, judge: Deployment) -> None:
        try:
            body_for = self.pipeline.body_for(req, prep)
            other = await self._side_call(prep, shadow, body_for(shadow), "shadow")
            if other is None:
                return
            def safe(text: str) -> str:  # pseudonymised like the request itself when the judge is off-premises
                off_prem = self.gw.jurisdiction_of(judge) != "on_prem"
                return prep.transform.redact_text(text) if prep.transform is not None and off_prem else text

            content = JUDGE_PROMPT.format(prompt=safe(req.prompt_text), a=safe(answer), b=safe(other))
            judge_body = {"model": judge.model or judge.id, "temperature": 0, "max_tokens": 20,
                          "messages": [{"role": "user", "content": content}]}
            verdict = await self._side_call(prep, judge, judge_body, "judge")
            scores = parse_scores(verdict or "")
            if scores is None:
                log.warning("judge '%s' gave no parseable scores for %s", judge.id, prep.decision.decision_id)
                return
            audit = self.gw.audit
            if audit is not None and await asyncio.to_thread(audit.erased_since, prep.decision.decision_id):
                return  # the subject was erased while the judge worked: their text must not come back
            await asyncio.to_thread(self.outcomes.record_shadow, prep.decision.decision_id, prep.decision.tenant, [
                (primary.id, req.prompt_text, answer, scores[0]), (shadow.id, req.prompt_text, other, scores[1])])
        except Exception:  # a shadow failure must never affect the client; it is logged
            log.exception("shadow evaluation failed for %s", prep.decision.decision_id)

    async def drain(self, timeout: float) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


def body_prompt_tokens(body: dict[str, Any]) -> int:
    from aiguillage.tokens import estimate_prompt_tokens

    return estimate_prompt_tokens(body.get("messages", []))
