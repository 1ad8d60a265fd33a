"""Which deployments may serve a request, and why each other one may not.

Runs after inspection and before routing. Every catalog deployment the request could name
becomes a Candidate with the first constraint that excludes it, so the explanation, the
audit record and the 403 body all say the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiguillage.config import TIERS, Deployment, Settings, TenantPolicy
from aiguillage.decision import Candidate
from aiguillage.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    NoEligibleDeployment,
    NotFound,
    Overloaded,
    PolicyBlocked,
)

ON_PREM = "on_prem"
_STRICTNESS = {"allow": 0, "pseudonymize": 1, "local_only": 2, "block": 3}
# Constraints a tenant's policy imposes; the others describe what the request needs.
POLICY_CONSTRAINTS = ("jurisdiction", "personal_data", "budget")


@dataclass(slots=True)
class PiiVerdict:
    action: str  # the strictest action over the types found
    counts: dict[str, int] = field(default_factory=dict)
    pseudonymize_types: frozenset[str] = frozenset()


def pii_verdict(policy: TenantPolicy, counts: dict[str, int]) -> PiiVerdict:
    if not counts:
        return PiiVerdict("none", {})
    per_type = {t: policy.personal_data_overrides.get(t, policy.personal_data) for t in counts}
    action = max(per_type.values(), key=_STRICTNESS.__getitem__)
    if action == "block":
        raise PolicyBlocked(
            f"the tenant's policy blocks requests containing personal data; found: "
            f"{', '.join(f'{t} ({n})' for t, n in sorted(counts.items()))}",
            details={"personal_data": dict(sorted(counts.items()))},
        )
    pseudo = frozenset(t for t, a in per_type.items() if a == "pseudonymize")
    return PiiVerdict(action, dict(counts), pseudo)


def requested_candidates(settings: Settings, model: str) -> list[Deployment]:
    if model == "auto":
        return list(settings.models)
    if model in TIERS:
        found = [d for d in settings.models if d.tier == model]
        if not found:
            raise NotFound(f"no deployment of tier '{model}' is configured", param="model")
        return found
    dep = settings.deployment(model)
    if dep is None:
        raise NotFound(
            f"model '{model}' does not exist; use a deployment id from GET /v1/models, a tier "
            f"(small, medium, large) or 'auto'", param="model",
        )
    return [dep]


def eligibility(
    candidates: Iterable[Deployment],
    *,
    policy: TenantPolicy,
    jurisdiction_of: Callable[[Deployment], str],
    capabilities_of: Callable[[Deployment], frozenset[str]],
    needs: frozenset[str],
    prompt_tokens: int,
    language: str | None,
    pii: PiiVerdict,
    unavailable: Callable[[Deployment], str | None] = lambda d: None,
) -> tuple[list[Candidate], list[Deployment]]:
    out: list[Candidate] = []
    eligible: list[Deployment] = []
    allowed = policy.allowed_jurisdictions
    for d in candidates:
        j = jurisdiction_of(d)
        reason: str | None = None
        if allowed is not None and j not in allowed:
            reason = f"jurisdiction: '{j}' is not in the tenant's allowed jurisdictions {allowed}"
        elif pii.action == "local_only" and j != ON_PREM:
            reason = f"personal_data: {', '.join(sorted(pii.counts))} found and the policy keeps it on_prem"
        elif missing := needs - capabilities_of(d):
            reason = f"capabilities: lacks {', '.join(sorted(missing))}"
        elif not d.accepts_language(language):
            reason = f"language: '{language}' is not in its languages {d.languages}"
        elif prompt_tokens >= d.context_window:
            reason = f"context_window: about {prompt_tokens} prompt tokens do not fit in {d.context_window}"
        elif why := unavailable(d):
            reason = f"unavailable: {why}"
        out.append(Candidate(d.id, d.tier, j, reason is None, reason))
        if reason is None:
            eligible.append(d)
    return out, eligible


def apply_budget(candidates: list[Candidate], eligible: list[Deployment], allowed_tiers: Iterable[str],
                 reason: str) -> list[Deployment]:
    """A downgrade budget: only the allowed tiers stay eligible; the others say why."""
    allowed = set(allowed_tiers)
    keep = [d for d in eligible if d.tier in allowed]
    dropped = {d.id for d in eligible} - {d.id for d in keep}
    for c in candidates:
        if c.id in dropped:
            c.eligible = False
            c.excluded_by = f"budget: {reason or 'only tiers ' + ', '.join(sorted(allowed)) + ' allowed'}"
    return keep


def raise_if_none(candidates: list[Candidate], eligible: list[Deployment]) -> None:
    if eligible:
        return
    excluded = {c.id: c.excluded_by for c in candidates}
    kinds = {(c.excluded_by or "").split(":", 1)[0] for c in candidates}
    detail = "; ".join(f"{k}: {v}" for k, v in excluded.items())
    if kinds == {"unavailable"}:
        raise Overloaded(
            f"every eligible deployment is temporarily unavailable ({detail}); retry shortly",
            headers={"Retry-After": "1"}, details={"candidates": excluded},
        )
    if kinds & set(POLICY_CONSTRAINTS):
        raise NoEligibleDeployment(
            f"no deployment may serve this request under the tenant's policy ({detail})",
            details={"candidates": excluded},
        )
    if kinds == {"context_window"}:
        raise ContextLengthExceeded(
            f"the prompt is longer than every eligible context window ({detail})", param="messages",
            details={"candidates": excluded},
        )
    raise InvalidRequest(
        f"no deployment supports this request ({detail})", code="unsupported_request",
        details={"candidates": excluded},
    )
