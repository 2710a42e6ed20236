"""OpenTelemetry set-up: a no-op unless the standard ``OTEL_*`` variables ask for an exporter."""

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)


def _exporter(name: str) -> SpanExporter | None:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )
        except ImportError as err:
            msg = "OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http"
            raise SystemExit(msg) from err
        return OTLPSpanExporter()  # type: ignore[no-any-return]
    return None


def configure_telemetry(service: str) -> TracerProvider | None:
    """Install a tracer provider when ``OTEL_TRACES_EXPORTER`` names one (console, otlp)."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    exporter = _exporter(name)
    if exporter is None:
        return None
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def tracing_enabled() -> bool:
    """True once an SDK tracer provider is installed (so span work is not wasted)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)
