"""Fakes for the OpenAI-shaped vendors: Mistral, Azure OpenAI, AI21 Jamba, Aleph Alpha."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.providers.fakes.server import Answer, FakeVendor, sse


class FakeOpenAILike(FakeVendor):
    usage_in_last_choice_chunk = True  # False: a separate usage-only chunk when stream_options asks
    allowed_fields: frozenset[str] | None = None  # documented request fields; others -> 422

    def completion(self, body: dict[str, Any], answer: Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text if answer.text else None}
        if answer.tool_calls:
            message["tool_calls"] = [{"id": cid, "type": "function", "function": {"name": n, "arguments": _js(a)}}
                                     for cid, n, a in answer.tool_calls]
        return {"id": "cmpl-fake-1", "object": "chat.completion", "created": 1700000000,
                "model": body.get("model", "deployment-model"),
                "choices": [{"index": 0, "message": message, "finish_reason": answer.finish}],
                "usage": _usage(answer)}

    def validate(self, path: str, body: Any) -> None:
        bad = set(body) - self.allowed_fields if self.allowed_fields is not None else set()
        if bad:
            raise web.HTTPUnprocessableEntity(text=_js({"detail": [{"type": "extra_forbidden", "loc": ["body", k]}
                                                                 for k in sorted(bad)]}),
                                              content_type="application/json")

    def render(self, path: str, body: Any, answer: Answer) -> Any:
        if path.endswith("/embeddings"):
            return {"object": "list", "model": body.get("model", "emb"), "usage": {"prompt_tokens": 3, "total_tokens": 3},
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}]}
        return self.completion(body, answer)

    def stream_pieces(self, path: str, body: Any, answer: Answer) -> list[bytes]:
        base = {"id": "cmpl-fake-1", "object": "chat.completion.chunk", "created": 1700000000,
                "model": body.get("model", "deployment-model")}

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            return sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

        pieces = [chunk({"role": "assistant", "content": ""})]
        text = answer.text
        for part in (text[: len(text) // 2], text[len(text) // 2:]) if text else ():
            pieces.append(chunk({"content": part}))
        for i, (cid, name, args) in enumerate(answer.tool_calls):
            raw = _js(args)
            pieces.append(chunk({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                                 "function": {"name": name, "arguments": ""}}]}))
            for part in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
                pieces.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
        if self.usage_in_last_choice_chunk:
            pieces.append(chunk({}, answer.finish, usage=_usage(answer)))
        else:
            pieces.append(chunk({}, answer.finish))
            if (body.get("stream_options") or {}).get("include_usage"):
                pieces.append(sse({**base, "choices": [], "usage": _usage(answer)}))
        pieces.append(b"data: [DONE]\n\n")
        return pieces

    def stream_error(self) -> bytes:
        return sse({"error": {"message": "upstream model crashed", "type": "server_error", "code": None}})


class FakeMistral(FakeOpenAILike):
    paths = ("/v1/chat/completions", "/v1/embeddings")
    allowed_fields = frozenset({
        "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
        "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n",
        "safe_prompt", "parallel_tool_calls", "prediction", "input", "encoding_format",
    })

    def error_body(self, status: int, message: str) -> Any:
        return {"object": "error", "message": message, "type": "invalid_request_error", "param": None, "code": None}

    def validate(self, path: str, body: Any) -> None:
        super().validate(path, body)
        for msg in body.get("messages", []):
            ids = [c["id"] for c in msg.get("tool_calls") or []] + ([msg["tool_call_id"]] if "tool_call_id" in msg else [])
            if any(len(i) != 9 or not i.isalnum() for i in ids):
                raise web.HTTPBadRequest(text=_js(self.error_body(400, "Tool call id has to be 9 a-z, A-Z, 0-9")),
                                         content_type="application/json")


class FakeAzure(FakeOpenAILike):
    paths = ("/openai/deployments/gpt-4o-eu/chat/completions", "/openai/deployments/gpt-4o-eu/embeddings")
    usage_in_last_choice_chunk = False

    def check_auth(self, request: web.Request) -> web.Response | None:
        if "api-version" not in request.query:
            return self.error(404, "Resource not found", None)
        if request.headers.get("api-key") != "sk-test":
            return self.error(401, "Access denied due to invalid subscription key", None)
        return None


class FakeAI21(FakeOpenAILike):
    paths = ("/studio/v1/chat/completions",)
    allowed_fields = frozenset({"model", "messages", "tools", "n", "max_tokens", "temperature", "top_p", "stop",
                                "stream", "response_format", "documents"})

    def validate(self, path: str, body: Any) -> None:
        super().validate(path, body)
        if not all(isinstance(m.get("content"), str) for m in body["messages"]):
            raise web.HTTPUnprocessableEntity(text=_js(self.error_body(422, "content: str type expected")),
                                              content_type="application/json")

    def error_body(self, status: int, message: str) -> Any:
        return {"detail": message}


class FakeAlephAlpha(FakeOpenAILike):
    paths = ("/chat/completions",)
    usage_in_last_choice_chunk = False
    allowed_fields = frozenset({"model", "messages", "max_tokens", "temperature", "top_p", "stream", "stream_options",
                                "stop", "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "n",
                                "logit_bias"})

    def validate(self, path: str, body: Any) -> None:
        super().validate(path, body)
        roles = [m["role"] for m in body["messages"] if m["role"] != "system"]
        alternating = all(r == ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(roles))
        if not alternating or not all(isinstance(m["content"], str) for m in body["messages"]):
            raise web.HTTPBadRequest(text=_js(self.error_body(400, "messages must alternate user/assistant as text")),
                                     content_type="application/json")

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message, "code": "UNKNOWN"}


def _usage(answer: Answer) -> dict[str, int]:
    return {"prompt_tokens": answer.input_tokens, "completion_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.output_tokens}


def _js(value: Any) -> str:
    import json

    return json.dumps(value)
