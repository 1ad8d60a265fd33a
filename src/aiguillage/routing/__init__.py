"""Routing strategies: ``cheapest`` (default), ``learned`` and ``cascade`` (see docs/routing.md).

``build_router(spec, catalog)`` is what the gateway calls once per tenant at start-up; it loads
the artifact (if any) once and returns an object with ``rank(request, eligible) -> Ranking``.
"""

from __future__ import annotations

from aiguillage.config import Deployment, RouterSpec
from aiguillage.routing.artifact import ArtifactError, load_artifact
from aiguillage.routing.base import CheapestRouter, Ranking, RouteInput, Router, Verifier
from aiguillage.routing.cascade import AnswerModel, AnswerVerifier, CascadeRouter
from aiguillage.routing.learned import LearnedRouter, PromptSuccessModel

__all__ = [
    "ArtifactError", "CascadeRouter", "CheapestRouter", "LearnedRouter", "Ranking", "RouteInput", "Router",
    "Verifier", "AnswerVerifier", "build_router",
]


def build_router(spec: RouterSpec, catalog: list[Deployment]) -> Router:
    """The router a tenant's ``RouterSpec`` asks for; raises ``ArtifactError`` with the fix on a bad artifact."""
    if spec.strategy == "cheapest":
        return CheapestRouter()
    if not spec.artifact:
        raise ArtifactError(
            f"router strategy '{spec.strategy}' needs 'artifact: PATH'; create one with "
            f"'aiguillage router train DATA.csv --out PATH --strategy {spec.strategy}'"
        )
    meta, model = load_artifact(spec.artifact)
    if meta.get("strategy") != spec.strategy:
        raise ArtifactError(
            f"{spec.artifact}: this artifact was trained for strategy '{meta.get('strategy')}', "
            f"but the config says '{spec.strategy}'; fix 'strategy' or retrain with --strategy {spec.strategy}"
        )
    if spec.strategy == "learned" and isinstance(model, PromptSuccessModel):
        try:
            return LearnedRouter(meta, model, spec, catalog)
        except ValueError as exc:
            raise ArtifactError(f"{spec.artifact}: {exc}") from None
    if spec.strategy == "cascade" and isinstance(model, AnswerModel):
        return CascadeRouter(meta, model, spec)
    raise ArtifactError(f"{spec.artifact}: the model inside does not match strategy '{spec.strategy}'; retrain it")
