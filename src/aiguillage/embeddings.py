"""``POST /v1/embeddings``: the same policy and routing as chat, on deployments that embed.

The inputs are inspected like a prompt (an embedding request sends the text just as far), only
deployments with the ``embeddings`` capability are eligible, and the chain falls back on
retryable failures. Cost is the input price times the upstream's prompt tokens.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiguillage.api.validate import ChatRequest
from aiguillage.decision import Attempt
from aiguillage.errors import GatewayError, InvalidRequest, UpstreamError, UpstreamTimeout
from aiguillage.providers.base import EMBEDDINGS
from aiguillage.providers.http import abort_after
from aiguillage.tokens import count_tokens, max_prompt_tokens

if TYPE_CHECKING:
    from aiguillage.api.transport import Request
    from aiguillage.pipeline import ChatPipeline


def parse_embeddings(data: Any) -> tuple[str, list[str], dict[str, Any]]:
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    model = data.get("model") or "auto"
    if not isinstance(model, str):
        raise InvalidRequest("'model' must be a string", param="model")
    raw = data.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise InvalidRequest("'input' must be a non-empty string or array of non-empty strings", param="input")
    extra = {k: v for k, v in data.items() if k in ("encoding_format", "dimensions", "user")}
    return model, texts, extra


class EmbeddingsPipeline:
    def __init__(self, chat: ChatPipeline) -> None:
        self.chat = chat
        self.gw = chat.gw

    async def run(self, req: Request, data: Any) -> tuple[dict[str, str], dict[str, Any]]:
        model, texts, extra = parse_embeddings(data)
        messages = [{"role": "user", "content": t} for t in texts]
        text = "\n".join(texts)
        creq = ChatRequest(body={}, model=model, stream=False, include_usage=False, messages=messages,
                           needs=frozenset({EMBEDDINGS}), prompt_text=text, prompt_tokens=count_tokens(text),
                           max_output_tokens=0, prompt_tokens_max=max_prompt_tokens(text, 0))
        assert req.key is not None
        from aiguillage.api.app import _deadline

        prep = await self.chat.prepare(req.key, creq, req.request_id, "/v1/embeddings",
                                       req.header("x-aiguillage-subject"), _deadline(req))
        d = prep.decision
        last: GatewayError | None = None
        upstream_s = 0.0
        for dep in prep.ranking.order:
            inputs = texts
            if prep.transform is not None and self.gw.jurisdiction_of(dep) != "on_prem":
                inputs = [m["content"] for m in prep.transform.redact_messages(messages)]
            t = time.perf_counter()
            if time.monotonic() >= prep.deadline:
                last = UpstreamTimeout("the request deadline passed", deployment=dep.id)
                break
            provider = self.gw.providers[dep.id]
            remaining = prep.deadline - time.monotonic()
            limit = min(remaining, provider.timeouts.total)
            try:
                with abort_after(limit):
                    async with asyncio.timeout(limit):
                        resp = await provider.embed({"model": dep.model or dep.id, "input": inputs, **extra})
            except TimeoutError:
                upstream_s += time.perf_counter() - t
                own_limit = limit < remaining  # the deployment's total timeout: the next one may still answer
                last = UpstreamTimeout(f"deployment '{dep.id}' exceeded "
                                       + (f"its total timeout ({limit:g}s)" if own_limit else "the request deadline"),
                                       deployment=dep.id)
                d.attempts.append(Attempt(dep.id, "error", f"{last.code}: {last}", (time.perf_counter() - t) * 1000))
                if own_limit:
                    continue
                break
            except UpstreamError as exc:
                upstream_s += time.perf_counter() - t
                d.attempts.append(Attempt(dep.id, "error", f"{exc.code}: {exc}", (time.perf_counter() - t) * 1000))
                last = exc
                if not exc.retryable:
                    break
                continue
            except GatewayError as exc:  # the gateway's own failure (out of open files): no other deployment
                upstream_s += time.perf_counter() - t
                d.attempts.append(Attempt(dep.id, "error", f"{exc.code}: {exc}", (time.perf_counter() - t) * 1000))
                last = exc
                break
            upstream_s += time.perf_counter() - t
            d.attempts.append(Attempt(dep.id, "ok", None, (time.perf_counter() - t) * 1000))
            usage = resp.get("usage") or {}
            self.chat.charge(d, dep, {"prompt_tokens": usage.get("prompt_tokens") or creq.prompt_tokens,
                                      "completion_tokens": 0}, "", creq.prompt_tokens)
            await self.chat.settle(prep)
            overhead_ms = (time.perf_counter() - prep.t0 - upstream_s) * 1000
            await self.chat.record(d, prep.t0, upstream_s)
            return self.chat.headers(prep, overhead_ms), resp
        assert last is not None
        await self.chat.settle(prep)
        await self.chat.record_failure(d, last, prep.t0, upstream_s)
        raise last
