"""Azure OpenAI: the OpenAI wire format behind deployment-based URLs.

URL: ``{base_url}/openai/deployments/{deployment}/{path}?api-version={api_version}`` where
``base_url`` is the resource endpoint (``https://<resource>.openai.azure.com``), the Azure
deployment name is ``options.deployment`` (default: the catalog ``model``) and the key goes in
the ``api-key`` header. The deployment fixes the model, so ``model`` is not sent.
"""

from __future__ import annotations

from typing import Any, ClassVar


from aiguillage.config import ConfigError, Deployment, Timeouts
from aiguillage.providers.base import CHAT, EMBEDDINGS, JSON_MODE, STREAM, TOOLS, VISION
from aiguillage.providers.http import UpstreamHttp
from aiguillage.providers.openai import OpenAIProvider

DEFAULT_API_VERSION = "2024-10-21"  # latest GA version with stream_options.include_usage


class AzureOpenAIProvider(OpenAIProvider):
    kind: ClassVar[str] = "azure_openai"
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE, EMBEDDINGS, VISION})
    default_base_url: ClassVar[str | None] = None  # always the customer's own resource endpoint
    # Microsoft is a US company (CLOUD Act) even when the resource sits in an EU region.
    default_jurisdiction: ClassVar[str | None] = "us"
    default_data_retention: ClassVar[str | None] = (
        "up to 30 days for abuse monitoring, in the resource's geography; none with approved modified abuse monitoring"
    )

    def __init__(self, deployment: Deployment, http: UpstreamHttp | None, timeouts: Timeouts) -> None:
        super().__init__(deployment, http, timeouts)
        if not self.base_url:
            raise ConfigError(
                f"deployment '{deployment.id}': azure_openai needs base_url "
                "(your resource endpoint, e.g. https://<resource>.openai.azure.com)"
            )

    @property
    def api_version(self) -> str:
        return str(self.deployment.options.get("api_version") or DEFAULT_API_VERSION)

    @property
    def azure_deployment(self) -> str:
        return str(self.deployment.options.get("deployment") or self.upstream_model)

    def _headers(self) -> dict[str, str]:
        key = self.deployment.api_key
        return {"api-key": key} if key else {}

    def _url(self, path: str) -> str:
        return f"{self.base_url}/openai/deployments/{self.azure_deployment}/{path}?api-version={self.api_version}"

    def _quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "model"}

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        return await super().embed({k: v for k, v in body.items() if k != "model"})
