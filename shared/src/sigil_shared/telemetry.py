"""OpenTelemetry set-up: a no-op unless the standard ``OTEL_*`` variables ask for an exporter."""

import os
import sys

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
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


def _metrics_port() -> int:
    raw = os.environ.get("SIGIL_METRICS_PORT", "0").strip() or "0"
    if not raw.isdigit() or int(raw) > 65535:
        print(  # noqa: T201 - settings errors are one line on stderr, before logging
            "sigil: invalid setting SIGIL_METRICS_PORT: must be a TCP port (0 = off)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return int(raw)


def configure_telemetry(service: str, *, prometheus: bool = False) -> TracerProvider | None:
    """Install providers the standard variables ask for.

    ``OTEL_TRACES_EXPORTER`` and ``OTEL_METRICS_EXPORTER``: ``console``, ``otlp`` or ``none``
    (the default: everything stays a no-op). Prometheus: ``prometheus=True`` (the gateway,
    which serves ``/metrics`` itself) or ``SIGIL_METRICS_PORT`` (a bus service: a scrape
    endpoint on that port, address ``SIGIL_METRICS_HOST``, default 127.0.0.1) puts every
    OpenTelemetry metric into the Prometheus registry as well.
    """
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    readers: list[MetricReader] = []
    metric_exporter = _metric_exporter(
        os.environ.get("OTEL_METRICS_EXPORTER", "none").strip().lower()
    )
    if metric_exporter is not None:
        readers.append(PeriodicExportingMetricReader(metric_exporter))
    port = _metrics_port()
    if prometheus or port:
        from opentelemetry.exporter.prometheus import (  # noqa: PLC0415 - only when asked
            PrometheusMetricReader,
        )

        readers.append(PrometheusMetricReader())
    if port:
        from prometheus_client import start_http_server  # noqa: PLC0415 - only when asked

        start_http_server(port, addr=os.environ.get("SIGIL_METRICS_HOST", "127.0.0.1"))
    if readers:
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
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
