"""Exact prices: a request's cost and the counterfactual "always the largest model" cost.

Prices are EUR per million tokens (``Deployment.price_eur_per_mtok``). Every amount is a
``Decimal`` computed without rounding; only human-readable tables round (to cents).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, Context, Decimal

from aiguillage.config import TIER_RANK, Deployment

__all__ = ["cost_of", "largest_deployment", "counterfactual_cost", "worst_case_cost", "to_nano", "decimal_str", "ZERO"]

ZERO = Decimal(0)
# Wide enough that no product or sum of realistic prices and token counts is ever rounded.
EXACT = Context(prec=80)
_NANO = Decimal("1e-9")


def cost_of(deployment: Deployment, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """Exact cost in EUR of one call with this usage on this deployment."""
    p = deployment.price_eur_per_mtok
    total = EXACT.add(EXACT.multiply(p.input, prompt_tokens), EXACT.multiply(p.output, completion_tokens))
    return EXACT.scaleb(total, -6) if total else ZERO


def decimal_str(amount: Decimal) -> str:
    """Plain positional notation (never ``1.5E-7``), exact: the form stored in records and JSON."""
    return format(amount, "f")


def largest_deployment(candidates: Sequence[Deployment]) -> Deployment | None:
    """The deployment a gateway without routing would use: highest tier, then dearest output and
    input price (the gateway's rule), then first in catalog order."""
    if not candidates:
        return None
    return max(candidates, key=lambda d: (TIER_RANK[d.tier], d.price_eur_per_mtok.output, d.price_eur_per_mtok.input))


def counterfactual_cost(
    candidates: Sequence[Deployment], prompt_tokens: int, completion_tokens: int
) -> tuple[Decimal, str | None]:
    """(cost, deployment id) of the same usage on the largest eligible deployment."""
    d = largest_deployment(candidates)
    if d is None:
        return ZERO, None
    return cost_of(d, prompt_tokens, completion_tokens), d.id


def worst_case_cost(candidates: Sequence[Deployment], prompt_tokens: int, max_output_tokens: int) -> Decimal:
    """The most a single call on any of these deployments can cost (what admission reserves)."""
    return max((cost_of(d, prompt_tokens, max_output_tokens) for d in candidates), default=ZERO)


def to_nano(amount: Decimal) -> int:
    """Whole nano-euros, rounded up: Redis counters are integers, and rounding up keeps them conservative."""
    return int(amount.quantize(_NANO, rounding=ROUND_CEILING, context=EXACT).scaleb(9, EXACT))
