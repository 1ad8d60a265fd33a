"""Routes beyond chat completions, registered onto the App's route table.

Anthropic Messages and OpenAI Responses requests are translated into the chat format, run
through the very same pipeline (policy, routing, audit, accounting), and translated back.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson

from aiguillage.api import anthropic_messages as am
from aiguillage.api import responses as rs
from aiguillage.api.validate import parse_chat, parse_json
from aiguillage.errors import GatewayError, InvalidRequest, NotFound, PermissionDenied

if TYPE_CHECKING:
    from aiguillage.api.app import App
    from aiguillage.api.transport import Request


def _sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n" for name, data in events)


async def _translated(items: Any, tr: Any) -> Any:
    async for item in items:
        events = tr.error(item) if isinstance(item, GatewayError) else tr.feed(item)
        if events:
            yield _sse(events)
        if isinstance(item, GatewayError):
            return
    tail = tr.finish()
    if tail:
        yield _sse(tail)


def _translated_request(translate: Any, body: dict[str, Any], api: str) -> dict[str, Any]:
    """The request in the chat format. A field of the wrong shape that the translation trips
    over is the client's error (400), like every other ill-typed field, not the gateway's."""
    if "stream" in body and not isinstance(body["stream"], bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    try:
        out: dict[str, Any] = translate(body)
    except GatewayError:
        raise
    except (TypeError, AttributeError, ValueError, KeyError, IndexError):
        raise InvalidRequest(f"a field of the request has the wrong type or shape for the {api} API") from None
    return out


def register_routes(app: App) -> None:
    from aiguillage.api.app import _headers, send_json, stream_out

    async def feedback(req: Request) -> None:
        data = parse_json(await app.read_body(req))
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
        await send_json(req, 200, {"object": "feedback", "decision_id": decision_id, "score": score}, _headers(req))

    async def messages(req: Request) -> None:
        """Anthropic's Messages API, for applications written against the anthropic SDK."""
        try:
            body = parse_json(await app.read_body(req))
            if not isinstance(body, dict):
                raise InvalidRequest("the request body must be a JSON object")
            model = str(body.get("model") or "auto")
            chat = parse_chat(_translated_request(am.messages_request_to_chat, body, "Messages"))
            headers, resp, items = await app.run_chat(req, chat, "/v1/messages")
        except GatewayError as err:
            await send_json(req, err.status, am.error_to_anthropic(err), _headers(req, err.headers))
            return
        if items is None:
            await send_json(req, 200, am.chat_response_to_messages(resp or {}, model), _headers(req, headers))
        else:
            await stream_out(req, _headers(req, headers), _translated(items, am.MessagesStreamTranslator(model)))

    async def responses(req: Request) -> None:
        """OpenAI's Responses API (text and streaming)."""
        body = parse_json(await app.read_body(req))
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")
        model = str(body.get("model") or "auto")
        chat = parse_chat(_translated_request(rs.responses_request_to_chat, body, "Responses"))
        headers, resp, items = await app.run_chat(req, chat, "/v1/responses")
        if items is None:
            await send_json(req, 200, rs.chat_response_to_responses(resp or {}, model, request=body),
                            _headers(req, headers))
        else:
            await stream_out(req, _headers(req, headers), _translated(items, rs.ResponsesStreamTranslator(model, body)))

    async def embeddings(req: Request) -> None:
        body = parse_json(await app.read_body(req))
        headers, resp = await app.embeddings.run(req, body)
        await send_json(req, 200, resp, _headers(req, headers))

    async def usage(req: Request) -> None:
        if app.gw.accounting is None:
            raise NotFound("usage accounting is not enabled", code="not_found")
        assert req.key is not None
        q = _query(req)
        report = await asyncio.to_thread(app.gw.accounting.usage_for_tenant, scoped_tenant(req, q.get("tenant")),
                                         q.get("since"), q.get("until"))
        await send_json(req, 200, report, _headers(req))

    app.routes[("POST", "/v1/feedback")] = (feedback, True)
    app.routes[("POST", "/v1/messages")] = (messages, True)
    app.routes[("POST", "/v1/responses")] = (responses, True)
    app.routes[("POST", "/v1/embeddings")] = (embeddings, True)
    app.routes[("GET", "/v1/usage")] = (usage, True)


def scoped_tenant(req: Request, asked: str | None) -> str:
    """The tenant a read is about: the key's own, or for an admin key (``keys create --admin``)
    any tenant named in the request."""
    assert req.key is not None
    if not asked or asked == req.key.tenant:
        return req.key.tenant
    if not req.key.admin:
        raise PermissionDenied(f"this key belongs to tenant '{req.key.tenant}'; reading tenant '{asked}' "
                               "needs an admin key (aiguillage keys create --admin)", param="tenant")
    return asked


def _query(req: Request) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(req.query_string))
