"""Routes beyond chat completions, registered onto the App's route table."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiguillage.api.validate import parse_json
from aiguillage.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from aiguillage.api.app import App, Request, Send


def register_routes(app: App) -> None:
    async def post_feedback(req: Request, send: Send) -> None:
        from aiguillage.api.app import _headers, send_json

        data = parse_json(await req.body(app.limit))
        if not isinstance(data, dict):
            raise InvalidRequest("the body must be a JSON object with 'decision_id' and 'score'")
        decision_id, score = data.get("decision_id"), data.get("score")
        if not isinstance(decision_id, str) or not decision_id:
            raise InvalidRequest("'decision_id' must be the x-aiguillage-decision of an answer", param="decision_id")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
            raise InvalidRequest("'score' must be a number between 0 and 1", param="score")
        assert req.key is not None
        tenant = req.key.tenant
        if app.gw.audit is None or await asyncio.to_thread(app.gw.audit.get_decision, decision_id, tenant) is None:
            raise NotFound(f"no decision '{decision_id}' for this tenant", code="decision_not_found")
        await asyncio.to_thread(app.gw.outcomes.record_feedback, decision_id, tenant, float(score))
        await send_json(send, 200, {"object": "feedback", "decision_id": decision_id, "score": score}, _headers(req))

    app.routes[("POST", "/v1/feedback")] = (post_feedback, True)
