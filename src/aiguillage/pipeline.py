"""The request path for chat completions: inspect → policy → route → call → record.

Each step reads and extends the request's Decision. The answer is released only after the
decision's record is durably committed (for a stream: before its final event).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiguillage import metrics
from aiguillage.api.validate import BUDGET_OUTPUT_CAP, ChatRequest
from aiguillage.call import answer_text
from aiguillage.config import Deployment
from aiguillage.decision import SUBJECT_ID_MAX_CHARS, Decision, decimal_str
from aiguillage.errors import (GatewayError, OutOfFiles, StoreUnavailable, UpstreamError, causes, out_of_files,
                               warn_503)
from aiguillage.gateway import Gateway
from aiguillage.keys import KeyInfo
from aiguillage.accounting import cost_of, largest_deployment
from aiguillage.outcomes import OUTCOME_KEY
from aiguillage.store.db import NotConfirmed
from aiguillage.store.db import unavailable as store_unavailable
from aiguillage.policy import (
    PiiVerdict,
    apply_budget,
    eligibility,
    pii_verdict,
    raise_if_none,
    requested_candidates,
)
from aiguillage.routing.base import Ranking, RouteInput
from aiguillage.tokens import count_tokens


@dataclass(slots=True)
class Prepared:
    """What the steps before the call decided."""

    decision: Decision
    ranking: Ranking
    eligible: list[Deployment]
    verdict: PiiVerdict
    t0: float
    deadline: float
    transform: Any = None  # pseudonymisation for deployments outside on_prem (aiguillage.inspect)
    admission: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    outcome: dict[str, str] | None = None  # the answer kept for router training (collect_outcomes)


@dataclass(slots=True)
class ChatResult:
    decision: Decision
    headers: dict[str, str]
    body: dict[str, Any] | None = None
    stream: AsyncIterator[bytes] | None = None

log = logging.getLogger(__name__)


class ChatPipeline:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.shadow: Any = None  # aiguillage.shadow.Shadow, set when outcomes are collected

    # -- steps ---------------------------------------------------------------------------------
    async def prepare(self, key: KeyInfo, req: ChatRequest, request_id: str, endpoint: str,
                      subject: str | None, deadline_s: float | None) -> Prepared:
        """inspect → policy (eligibility, then rate limits and budget) → route."""
        t0 = time.perf_counter()
        gw = self.gw
        refused = gw.writer.refusal() if gw.writer is not None else None
        if refused is not None:
            # The record could not be kept now: answer before anything goes upstream, where the
            # call would be paid for, and the prompt sent, with no record of either.
            metrics.child(metrics.REQUESTS, key.tenant, "none", "503").inc()
            metrics.child(metrics.REFUSED, refused[0]).inc()
            raise StoreUnavailable(refused[1], StoreUnavailable.NOT_SERVED)
        span = gw.tracing.span
        decision = Decision(
            request_id=request_id, tenant=key.tenant, key_id=key.key_id, endpoint=endpoint,
            requested_model=req.model[:200], stream=req.stream, subject_id=(subject or key.tenant)[:SUBJECT_ID_MAX_CHARS],
        )
        policy = gw.policy(key.tenant)
        admission = None
        try:
            with span("aiguillage.inspect", **{"aiguillage.request_id": request_id}):
                language, found, context = gw.inspector.inspect(req, decision, policy)
                verdict = pii_verdict(policy, decision.policy["personal_data"])
                decision.policy["action"] = verdict.action
                metrics.child(metrics.POLICY, key.tenant, verdict.action).inc()
                transform = gw.inspector.transform(found, verdict.pseudonymize_types, language, context)
            with span("aiguillage.policy", **{"aiguillage.request_id": request_id}):
                health = getattr(gw, "health", None)
                cands, eligible = eligibility(
                    requested_candidates(gw.settings, req.model), policy=policy,
                    jurisdiction_of=gw.jurisdiction_of, capabilities_of=gw.capabilities_of, needs=req.needs,
                    prompt_tokens=req.prompt_tokens, language=language, pii=verdict,
                    unavailable=health.unavailable if health is not None else (lambda d: None),
                )
                decision.candidates = cands
                raise_if_none(cands, eligible)
                if gw.accounting is not None:
                    # Reserve against what may actually serve the request, then apply a downgrade.
                    if policy.budgets and not req.explicit_max_output:
                        # Reserve for, and cap the answer at, a bound the budget can rely on.
                        req.max_output_tokens = BUDGET_OUTPUT_CAP
                        req.body["max_tokens"] = BUDGET_OUTPUT_CAP
                    admission = await gw.accounting.admit(
                        key.tenant, key.key_id, policy, req.prompt_tokens_max, req.max_output_tokens, eligible)
                    if admission.allowed_tiers is not None:
                        eligible = apply_budget(cands, eligible, admission.allowed_tiers, admission.reason)
                        raise_if_none(cands, eligible)
            with span("aiguillage.route", **{"aiguillage.request_id": request_id}):
                ranking = gw.router_for(policy).rank(
                    RouteInput(req.prompt_text, req.prompt_tokens, req.max_output_tokens, language), eligible)
                decision.router = {"strategy": ranking.strategy, "version": ranking.version,
                                   "reason": ranking.reason, "details": ranking.details}
                largest = largest_deployment(eligible)
                assert largest is not None  # raise_if_none left at least one eligible deployment
                decision.counterfactual_deployment = largest.id
        except Exception as exc:
            err = as_gateway_error(exc)
            if admission is not None:
                await gw.accounting.settle(admission, Decimal(0), 0)
            await self.record_failure(decision, err, t0, 0.0)
            if err is exc:
                raise
            raise err from exc
        deadline = time.monotonic() + (deadline_s or gw.settings.resilience.deadline_s)
        headers = dict(admission.headers) if admission is not None else {}
        return Prepared(decision, ranking, eligible, verdict, t0, deadline, transform, admission, headers)

    def body_for(self, req: ChatRequest, prep: Prepared) -> Any:
        def body_for(d: Deployment) -> dict[str, Any]:
            messages = None
            if prep.transform is not None and self.gw.jurisdiction_of(d) != "on_prem":
                messages = prep.transform.redact_messages(req.messages)
            return req.upstream_body(d.model or d.id, messages)

        return body_for

    def charge(self, d: Decision, dep: Deployment, usage: dict[str, Any] | None, answer: str,
               prompt_tokens: int) -> None:
        """Tokens and exact cost from the upstream's usage (counted when it gives none), plus
        every answer that was paid for but not used (a cascade's escalated answers)."""
        d.chosen = dep
        d.chosen_provider = dep.provider
        d.chosen_jurisdiction = self.gw.jurisdiction_of(dep)
        pt = int((usage or {}).get("prompt_tokens") or prompt_tokens)
        ct = int((usage or {}).get("completion_tokens") or count_tokens(answer))
        largest = self.gw.settings.deployment(d.counterfactual_deployment or dep.id) or dep
        d.counterfactual_cost_eur = cost_of(largest, pt, ct)
        cost = cost_of(dep, pt, ct)
        for a in d.attempts:
            paid = self.gw.settings.deployment(a.deployment) if a.usage is not None else None
            if paid is not None and a.usage is not None:
                ep = int(a.usage.get("prompt_tokens") or prompt_tokens)
                ec = int(a.usage.get("completion_tokens") or 0)
                cost += cost_of(paid, ep, ec)
                pt, ct = pt + ep, ct + ec
        d.prompt_tokens, d.completion_tokens = pt, ct
        d.cost_eur = cost

    def _finish(self, prep: Prepared, dep: Deployment, usage: dict[str, Any] | None, answer: str,
                req: ChatRequest) -> None:
        d = prep.decision
        self.charge(d, dep, usage, answer, req.prompt_tokens)
        policy = self.gw.policy(d.tenant)
        if self.gw.audit is not None:
            d.prompt_hmac = self.gw.audit.hmac(req.prompt_text)
            d.answer_hmac = self.gw.audit.hmac(answer)
            if policy.store_content:
                d.content = {"prompt": req.prompt_text, "answer": answer}
        if policy.collect_outcomes:
            prep.outcome = {"deployment": dep.id, "prompt": req.prompt_text, "response": answer}
        if self.shadow is not None and d.status < 400:
            self.shadow.maybe_launch(req, prep, dep, answer)

    async def record(self, decision: Decision, t0: float, upstream_s: float,
                     outcome: dict[str, str] | None = None, background: bool = False) -> None:
        """Commit the decision's record. ``background``: a side call's record (shadow, judge),
        which never takes the lone request's shortcut (committing at once, ahead of the
        iteration's other work) when it happens to be the only one in flight."""
        now = time.perf_counter()
        decision.answered_at = time.time()
        decision.latency_ms = (now - t0) * 1000
        decision.overhead_ms = max(0.0, decision.latency_ms - upstream_s * 1000)
        dep_id = decision.chosen.id if decision.chosen else "none"
        child = metrics.child
        writer = self.gw.writer
        failed: tuple[GatewayError, Exception] | None = None
        if writer is not None:
            record = decision.to_record()
            if outcome is not None:
                record[OUTCOME_KEY] = outcome
            try:
                with self.gw.tracing.span("aiguillage.record", **{"aiguillage.request_id": decision.request_id}):
                    await writer.submit(record, alone=not background and self.gw.inflight == 1)
            except Exception as exc:  # not recorded, so not acknowledged: typed for every API's format
                failed = as_gateway_error(exc), exc
        # Counted once the commit is over, as what the client gets: during a database outage the
        # dashboards show 503s, not the answers nobody received. Tokens and cost were spent anyway.
        child(metrics.REQUESTS, decision.tenant, dep_id, str(failed[0].status if failed else decision.status)).inc()
        if decision.chosen is not None:
            child(metrics.ROUTED, decision.router.get("strategy", "?"), dep_id).inc()
            child(metrics.TOKENS, decision.tenant, dep_id, "prompt").inc(decision.prompt_tokens)
            child(metrics.TOKENS, decision.tenant, dep_id, "completion").inc(decision.completion_tokens)
            child(metrics.COST, decision.tenant, dep_id).inc(float(decision.cost_eur))
            child(metrics.LATENCY, dep_id).observe(decision.latency_ms / 1000)
        if failed is not None:
            raise failed[0] from failed[1]

    async def record_failure(self, d: Decision, exc: GatewayError, t0: float, upstream_s: float) -> None:
        """An error answer is a decision too: recorded, and linked from the error's headers."""
        d.status, d.error_code = exc.status, exc.code
        await self.record(d, t0, upstream_s)
        exc.headers["x-aiguillage-decision"] = d.decision_id

    async def settle(self, prep: Prepared) -> None:
        if prep.admission is not None:
            d = prep.decision
            await self.gw.accounting.settle(prep.admission, d.cost_eur, d.prompt_tokens + d.completion_tokens)

    def headers(self, prep: Prepared, overhead_ms: float) -> dict[str, str]:
        d = prep.decision
        h = {
            "x-aiguillage-model": d.chosen.id if d.chosen else "",
            "x-aiguillage-decision": d.decision_id,
            "x-aiguillage-cost-eur": decimal_str(d.cost_eur),
            "x-aiguillage-overhead-ms": f"{overhead_ms:.3f}",
            "x-aiguillage-pii": _pii_header(d),
            **prep.headers,
        }
        return h

    # -- the two shapes of answer -------------------------------------------------------------
    async def complete(self, req: ChatRequest, prep: Prepared) -> ChatResult:
        caller = self.gw.caller
        assert caller is not None
        d = prep.decision
        try:
            with self.gw.tracing.span("aiguillage.call", **{"aiguillage.request_id": d.request_id}):
                dep, resp, upstream_s = await caller.complete(
                    prep.ranking.order, self.body_for(req, prep), d, prep.deadline,
                    prep.ranking.verifier, req.prompt_text)
            if prep.transform is not None and self.gw.jurisdiction_of(dep) != "on_prem":
                prep.transform.restore_response(resp)
            self._finish(prep, dep, resp.get("usage"), answer_text(resp), req)
            _mark_ai_generated(resp, d)
        except Exception as exc:
            err = as_gateway_error(exc)
            await self.settle(prep)
            await self.record_failure(d, err, prep.t0, sum(a.latency_ms for a in d.attempts) / 1000)
            if err is exc:
                raise
            raise err from exc
        await self.settle(prep)
        overhead_ms = (time.perf_counter() - prep.t0 - upstream_s) * 1000
        await self.record(d, prep.t0, upstream_s, prep.outcome)
        metrics.child(metrics.OVERHEAD).observe(overhead_ms / 1000)
        return ChatResult(d, self.headers(prep, overhead_ms), body=resp)

    async def open_stream(self, req: ChatRequest, prep: Prepared) -> Any:
        caller = self.gw.caller
        assert caller is not None
        d = prep.decision
        try:
            opened = await caller.open_stream(prep.ranking.order, self.body_for(req, prep), d, prep.deadline)
        except Exception as exc:
            err = as_gateway_error(exc)
            await self.settle(prep)
            await self.record_failure(d, err, prep.t0, sum(a.latency_ms for a in d.attempts) / 1000)
            if err is exc:
                raise
            raise err from exc
        return opened


    async def stream_events(self, req: ChatRequest, prep: Prepared, opened: Any
                            ) -> AsyncIterator[dict[str, Any] | GatewayError]:
        """The chunks the client should see, in OpenAI format; a failure after the first chunk
        arrives last, as the GatewayError. The record is committed before the final item.

        Callers consume it to the end even if their client has gone, so the usage is still charged.
        """
        d = prep.decision
        dep: Deployment = opened.deployment
        restorer = None
        if prep.transform is not None and self.gw.jurisdiction_of(dep) != "on_prem":
            restorer = prep.transform.stream_restorer()
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        last_meta: dict[str, Any] = {}
        upstream_s = opened.upstream_s
        error: GatewayError | None = None
        chunk: dict[str, Any] | None = opened.first
        it = opened.rest.__aiter__()
        while chunk is not None:
            try:
                if chunk.get("usage"):
                    usage = chunk["usage"]
                last_meta = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
                out = _client_chunk(chunk, req.include_usage, parts, restorer)
            except Exception as exc:  # a malformed chunk ends the stream like an upstream failure
                error, chunk = as_gateway_error(exc), None
                break
            if out is not None:
                yield out
            t = time.perf_counter()
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                chunk = None
            except Exception as exc:
                error, chunk = as_gateway_error(exc), None
            upstream_s += time.perf_counter() - t
        if restorer is not None:
            tail = restorer.flush()
            if tail:
                parts.append(tail)
                yield _content_chunk(last_meta, tail)
        answer = "".join(parts)
        if error is not None:
            d.status, d.error_code = 502, "upstream_failed_mid_stream"
        self._finish(prep, dep, usage, answer, req)
        if error is not None:
            if isinstance(error, UpstreamError):
                d.attempts[-1].outcome = "error"
                d.attempts[-1].error = f"{error.code}: {error}"
        await self.settle(prep)
        try:
            await self.record(d, prep.t0, upstream_s, prep.outcome if error is None else None)
        except Exception as exc:  # not recorded, so not acknowledged: the error instead of the end
            yield as_gateway_error(exc)
            return
        if error is not None:
            yield error
        elif req.include_usage:
            u = {"prompt_tokens": d.prompt_tokens, "completion_tokens": d.completion_tokens,
                 "total_tokens": d.prompt_tokens + d.completion_tokens}
            final = {**last_meta, "object": "chat.completion.chunk", "choices": [], "usage": u,
                     "aiguillage": {"ai_generated": True, "decision_id": d.decision_id,
                                    "cost_eur": decimal_str(d.cost_eur)}}
            yield final

    async def replay_as_stream(self, req: ChatRequest, result: ChatResult) -> AsyncIterator[dict[str, Any]]:
        """A completed answer (e.g. verified by the cascade) sent in the streaming wire format."""
        resp = result.body or {}
        meta = {"id": resp.get("id", ""), "created": resp.get("created", int(time.time())),
                "model": resp.get("model", "")}
        choice = (resp.get("choices") or [{}])[0]
        msg = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": msg.get("content") or ""}
        if msg.get("tool_calls"):
            delta["tool_calls"] = [{**tc, "index": i} for i, tc in enumerate(msg["tool_calls"])]
        first = {**meta, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        yield first
        last = {**meta, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason", "stop")}]}
        yield last
        if req.include_usage:
            yield {**meta, "object": "chat.completion.chunk", "choices": [], "usage": resp.get("usage")}


def _content_chunk(meta: dict[str, Any], text: str) -> dict[str, Any]:
    return {**meta, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def _client_chunk(chunk: dict[str, Any], include_usage: bool, parts: list[str], restorer: Any) -> dict[str, Any] | None:
    """The chunk as the client should see it; None to hold it back (the usage-only chunk)."""
    choices = chunk.get("choices") or []
    if not choices:
        return None  # usage-only chunk: re-sent after the record is committed, if asked for
    if "usage" in chunk and not (include_usage and chunk["usage"]):
        chunk = {k: v for k, v in chunk.items() if k != "usage"}
    delta = choices[0].get("delta") or {}
    text = delta.get("content")
    if isinstance(text, str) and text:
        if restorer is not None:
            text = restorer.feed(text)
            chunk = {**chunk, "choices": [{**choices[0], "delta": {**delta, "content": text}}, *choices[1:]]}
        parts.append(text)
    return chunk


def as_gateway_error(exc: BaseException) -> GatewayError:
    """Anything unexpected becomes a recorded 500 rather than an unrecorded crash."""
    if isinstance(exc, GatewayError):
        return exc
    known = resource_error(exc, "on the request path")
    if known is not None:
        return known
    log.exception("unexpected error on the request path", exc_info=exc)
    return GatewayError("internal error in the gateway; the x-aiguillage-decision header identifies it",
                        code="internal_error")


def resource_error(exc: BaseException, where: str) -> GatewayError | None:
    """A 503 for an error that is a resource of the gateway failing, not a bug in it: the
    process out of open files, the database unreachable or unwritable. None otherwise."""
    if out_of_files(exc):
        warn_503("out of open files", where, exc)
        return OutOfFiles(where)
    reason = store_unavailable(exc)
    if reason is not None:
        warn_503("database unavailable", where, exc)
        unconfirmed = any(isinstance(e, NotConfirmed) and e.queued for e in causes(exc))
        return StoreUnavailable(reason, StoreUnavailable.UNCONFIRMED if unconfirmed else StoreUnavailable.NOT_RECORDED)
    return None


def _pii_header(d: Decision) -> str:
    counts = d.policy.get("personal_data") or {}
    found = ",".join(f"{t}={n}" for t, n in sorted(counts.items())) or "none"
    return f"inspection={d.policy.get('inspection', 'none')}; found={found}; action={d.policy.get('action', 'none')}"


def _mark_ai_generated(resp: dict[str, Any], d: Decision) -> None:
    # EU AI Act Art. 50: the answer says in machine-readable metadata that it is AI-generated.
    resp["aiguillage"] = {"ai_generated": True, "decision_id": d.decision_id,
                          "deployment": d.chosen.id if d.chosen else None}



__all__ = ["ChatPipeline", "ChatResult", "Prepared", "as_gateway_error", "resource_error"]
