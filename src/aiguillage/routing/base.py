"""The router protocol: rank the eligible deployments for one request, and say why.

Strategies are small classes registered by name in ``STRATEGIES``. Eligibility (context window,
capabilities, language, jurisdiction, personal-data policy, budget) is decided before the
router runs, by ``aiguillage.policy``; the router only orders what is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from aiguillage.config import TIER_RANK, Deployment


@dataclass(frozen=True, slots=True)
class RouteInput:
    """What a strategy may look at: the prompt text (never sent anywhere) and its size."""

    prompt: str
    prompt_tokens: int
    max_output_tokens: int
    language: str | None = None


@dataclass(slots=True)
class Ranking:
    """Deployments in the order to try them, plus a structured, human-readable explanation.

    ``verify`` is set by strategies that check an answer before accepting it (the cascade): the
    gateway calls ``verify(prompt, answer_text)`` on each answer but the last candidate's and
    moves on to the next candidate when it returns ``(False, score)``.
    """

    order: list[Deployment]
    strategy: str
    version: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    verifier: Verifier | None = None


class Verifier(Protocol):
    threshold: float

    def score(self, prompt: str, answer: str) -> float:
        """Escalation score in [0, 1]: higher means the answer more likely needs a stronger model."""


class Router(Protocol):
    strategy: ClassVar[str]
    version: str

    def rank(self, request: RouteInput, eligible: list[Deployment]) -> Ranking: ...


def expected_cost(d: Deployment, prompt_tokens: int, output_tokens: int) -> Decimal:
    p = d.price_eur_per_mtok
    return (p.input * prompt_tokens + p.output * output_tokens) / Decimal(1_000_000)


def expected_costs(eligible: list[Deployment], request: RouteInput) -> dict[str, Decimal]:
    return {d.id: expected_cost(d, request.prompt_tokens, request.max_output_tokens) for d in eligible}


def by_cost(eligible: list[Deployment], request: RouteInput,
            costs: dict[str, Decimal] | None = None) -> list[Deployment]:
    """Cheapest first; ties broken by smaller tier, then catalog order (stable sort).
    ``costs``: ``expected_costs(eligible, request)`` when the caller has them already."""
    costs = expected_costs(eligible, request) if costs is None else costs
    return sorted(eligible, key=lambda d: (costs[d.id], TIER_RANK[d.tier]))


class CheapestRouter:
    """The default: the cheapest deployment that fits, the others as fallbacks in cost order."""

    strategy: ClassVar[str] = "cheapest"

    def __init__(self, version: str = "1") -> None:
        self.version = version

    def rank(self, request: RouteInput, eligible: list[Deployment]) -> Ranking:
        costs = expected_costs(eligible, request)
        order = by_cost(eligible, request, costs)
        first = order[0]
        return Ranking(
            order=order,
            strategy=self.strategy,
            version=self.version,
            reason=f"'{first.id}' is the cheapest of {len(order)} eligible deployment(s)",
            details={"expected_cost_eur": {d.id: str(costs[d.id]) for d in order}},
        )
