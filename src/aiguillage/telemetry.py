"""OpenTelemetry traces of each request's steps, exported over OTLP/HTTP when configured.

Off by default (``otlp_endpoint`` unset): then ``span`` returns a shared null context and the
hot path pays one attribute check per step.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

_NULL = nullcontext()


class Tracing:
    def __init__(self, endpoint: str | None, service: str = "aiguillage") -> None:
        self.enabled = bool(endpoint)
        self._tracer: Any = None
        self._provider: Any = None
        if not endpoint:
            return
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"
        # A provider of our own (not the global one): the gateway must not hijack an embedding app's tracing.
        self._provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url), schedule_delay_millis=500))
        self._tracer = self._provider.get_tracer("aiguillage")

    def span(self, name: str, **attributes: Any) -> AbstractContextManager[Any]:
        if self._tracer is None:
            return _NULL
        return self._tracer.start_as_current_span(name, attributes=attributes)

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
