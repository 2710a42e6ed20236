"""OpenTelemetry set-up: a no-op unless the standard ``OTEL_*`` variables ask for an exporter."""

import os

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
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


def _metric_exporter(name: str) -> MetricExporter | None:
    if name == "console":
        return ConsoleMetricExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
                OTLPMetricExporter,
            )
        except ImportError as err:
            msg = "OTEL_METRICS_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http"
            raise SystemExit(msg) from err
        return OTLPMetricExporter()  # type: ignore[no-any-return]
    return None


def configure_telemetry(service: str) -> TracerProvider | None:
    """Install providers the standard variables ask for.

    ``OTEL_TRACES_EXPORTER`` and ``OTEL_METRICS_EXPORTER``: ``console``, ``otlp`` or ``none``
    (the default: everything stays a no-op).
    """
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    metric_exporter = _metric_exporter(
        os.environ.get("OTEL_METRICS_EXPORTER", "none").strip().lower()
    )
    if metric_exporter is not None:
        reader = PeriodicExportingMetricReader(metric_exporter)
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    exporter = _exporter(os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower())
    if exporter is None:
        return None
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def tracing_enabled() -> bool:
    """True once an SDK tracer provider is installed (so span work is not wasted)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)
