"""The gateway's own OpenAPI 3.1 document, served at ``GET /openapi.json``.

Describes the endpoints this process serves (only those present in the route table), with
the OpenAI error shape on every error status. It is what the schemathesis fuzz run
(``bench/resilience_fuzz.py``) generates requests from and checks answers against, so keep
it exact: a response the document does not allow is a bug in one or the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from aiguillage import __version__ as VERSION

if TYPE_CHECKING:
    from aiguillage.api.app import App
    from aiguillage.api.transport import Request

JSON = "application/json"
_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Invalid request", 401: "Missing or invalid API key", 403: "Forbidden by the tenant's policy",
            404: "Unknown model or resource", 405: "Method not allowed",
            408: "The request body did not arrive within server.body_timeout_s", 413: "Request body too large",
            429: "Rate limit or budget exceeded", 502: "Every eligible deployment failed",
            503: "Overloaded: concurrency queue full or every circuit breaker open (see Retry-After)",
            504: "Upstream timeout or request deadline exceeded"}
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


_MESSAGE_PART = {
    "type": "object", "required": ["type", "text"],
    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["message", "type", "param", "code"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]},
                           "details": {"type": "object"}}}},
    },
    "Message": {
        "type": "object", "required": ["role", "content"], "additionalProperties": False,
        "properties": {
            "role": {"type": "string", "enum": ["system", "developer", "user", "assistant"]},
            "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": _MESSAGE_PART}]},
            "name": {"type": "string"},
        },
    },
    "ChatCompletionRequest": {
        "type": "object", "required": ["messages"], "additionalProperties": False,
        "properties": {
            "model": {"type": "string", "minLength": 1,
                      "description": "A deployment id, a tier (small, medium, large) or 'auto'."},
            "messages": {"type": "array", "minItems": 1, "items": _ref("Message")},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "n": {"type": "integer", "enum": [1]},
            "seed": {"type": "integer"},
            "stop": {"oneOf": [{"type": "string"}, {"type": "array", "maxItems": 4, "items": {"type": "string"}}]},
            "user": {"type": "string"},
            "response_format": {"type": "object", "required": ["type"],
                                "properties": {"type": {"type": "string", "enum": ["text", "json_object"]}}},
        },
    },
    "ChatCompletion": {
        "type": "object", "required": ["id", "object", "choices"],
        "properties": {
            "id": {"type": "string"}, "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"}, "model": {"type": "string"},
            "choices": {"type": "array", "items": {
                "type": "object", "required": ["index", "message"],
                "properties": {"index": {"type": "integer"}, "finish_reason": {"type": ["string", "null"]},
                               "message": {"type": "object", "required": ["role"], "properties": {
                                   "role": {"type": "string"}, "content": {"type": ["string", "null"]}}}}}},
            "usage": {"type": "object", "properties": {
                "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
                "total_tokens": {"type": "integer"}}},
            "aiguillage": {"type": "object", "required": ["ai_generated", "decision_id"],
                           "properties": {"ai_generated": {"type": "boolean"}, "decision_id": {"type": "string"},
                                          "deployment": {"type": ["string", "null"]}}},
        },
    },
    "Model": {
        "type": "object", "required": ["id", "object", "owned_by"],
        "properties": {
            "id": {"type": "string"}, "object": {"type": "string", "enum": ["model"]},
            "created": {"type": "integer"}, "owned_by": {"type": "string"},
            "tier": {"type": "string", "enum": ["small", "medium", "large"]}, "jurisdiction": {"type": "string"},
            "context_window": {"type": "integer"},
            "languages": {"oneOf": [{"type": "string", "enum": ["all"]},
                                    {"type": "array", "items": {"type": "string"}}]},
            "capabilities": {"type": "array", "items": {"type": "string"}},
            "price_eur_per_mtok": {"type": "object", "properties": {
                "input": {"type": "string"}, "output": {"type": "string"}}},
            "status": {"type": "string", "enum": ["available", "degraded", "unavailable"],
                       "description": "From this worker's circuit breaker: closed, half-open, open."},
        },
    },
}

_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_DEADLINE = {"name": "x-aiguillage-deadline-ms", "in": "header", "required": False,
             "description": "Total deadline for this request, fallbacks included (default: resilience.deadline_s).",
             "schema": {"type": "integer", "minimum": 1, "maximum": 3600000}}

PATHS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/chat/completions"): {
        "operationId": "createChatCompletion", "summary": "OpenAI-compatible chat completion (routed)",
        "security": _AUTH, "parameters": [_DEADLINE],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref("ChatCompletionRequest")}}},
        "responses": {
            "200": {"description": "The answer; a server-sent event stream when stream=true",
                    "content": {JSON: {"schema": _ref("ChatCompletion")},
                                # Per event (OpenAPI < 3.2): a JSON chunk or error in ``data``, then ``[DONE]``.
                                "text/event-stream": {"schema": {
                                    "type": "object", "required": ["data"],
                                    "properties": {"data": {"type": "string"}, "event": {"type": "string"}}}}}},
            **_errors(400, 401, 403, 404, 408, 413, 429, 502, 503, 504),
        },
    },
    ("GET", "/v1/models"): {
        "operationId": "listModels", "summary": "Deployments of the catalog, with their health status",
        "security": _AUTH,
        "responses": {"200": _json({"type": "object", "required": ["object", "data"], "properties": {
            "object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": _ref("Model")}}},
            "The catalog"), **_errors(401)},
    },
    ("GET", "/v1/decisions/{decision_id}"): {
        "operationId": "getDecision", "summary": "The decision record of one request (this tenant's only)",
        "security": _AUTH,
        "parameters": [{"name": "decision_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json({"type": "object"}, "The decision record"), **_errors(401, 404)},
    },
    ("GET", "/healthz"): {
        "operationId": "health", "summary": "Readiness (503 while starting or draining)",
        "responses": {
            "200": _json({"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
                         "Ready"),
            "503": _json({"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
                         "Starting or shutting down")},
    },
    ("GET", "/metrics"): {
        "operationId": "metrics", "summary": "Prometheus metrics",
        "responses": {"200": {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}},
    },
    ("GET", "/openapi.json"): {
        "operationId": "openapi", "summary": "This document",
        "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
    },
}


def _present(app: App, method: str, path: str) -> bool:
    if (method, path) in app.routes:
        return True
    prefix = path.split("{", 1)[0]
    return "{" in path and any(m == method and p == prefix for m, p, _ in app.prefix_routes)


def document(app: App) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), op in PATHS.items():
        if _present(app, method, path):
            paths.setdefault(path, {})[method.lower()] = op
    schemas = dict(SCHEMAS)
    # The model names this catalog answers to; any other name is a 404.
    models = ["auto", *sorted({d.tier for d in app.settings.models}), *(d.id for d in app.settings.models)]
    request = dict(schemas["ChatCompletionRequest"])
    request["properties"] = {**request["properties"], "model": {**request["properties"]["model"], "enum": models}}
    schemas["ChatCompletionRequest"] = request
    return {
        "openapi": "3.1.0",
        "info": {"title": "aiguillage", "version": VERSION,
                 "description": "Self-hosted OpenAI-compatible AI gateway. Errors use the OpenAI error format."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "aiguillage keys create --tenant NAME"}}},
    }


def handler(app: App) -> Callable[[Request], Awaitable[None]]:
    """The ``GET /openapi.json`` route; the document is built on first use (after all routes registered)."""
    cache: list[bytes] = []

    async def openapi(req: Request) -> None:
        from aiguillage.api.app import _headers, send_json

        if not cache:
            cache.append(orjson.dumps(document(app)))
        await send_json(req, 200, cache[0], _headers(req))

    return openapi
