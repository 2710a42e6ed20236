"""Run in a child process by test_telemetry: install in-memory OTel providers, then drive a
create-then-validate flow through HTTP -> gateway -> NATS -> secrets/renderer, and print every
span and metric as JSON. (A child process keeps the global providers out of other tests.)"""

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

CANARY = sys.argv[1]


def _attrs(attributes: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(attributes or {}).items()}  # type: ignore[call-overload]


async def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    from sigil_cli.tokens import issue_token
    from tests.helpers import start_nats
    from tests.integration.stack import running_stack

    nats = start_nats(Path(tempfile.mkdtemp()))
    try:
        token = issue_token(nats.data.jwt_key_file.read_text().strip(), org="tel", role="admin")
        headers = {"Authorization": f"Bearer {token}"}
        async with running_stack(nats) as stack:
            created = await stack.http.post(
                "/api/v1/secrets", headers=headers, json={"key": "DB_PASSWORD", "value": CANARY}
            )
            assert created.status_code == 201, created.text
            checked = await stack.http.post(
                "/api/v1/templates/validate",
                headers=headers,
                json={"envFile": "PW={{ .Secrets.DB_PASSWORD }}\nX={{ .Secrets.NOPE }}\n"},
            )
            assert checked.status_code == 200, checked.text
    finally:
        nats.server.stop()
    spans = [
        {
            "name": s.name,
            "trace": format(s.context.trace_id, "032x"),
            "service": s.instrumentation_scope.name if s.instrumentation_scope else "",
            "attributes": {k: str(v) for k, v in (s.attributes or {}).items()},
            "events": [
                {"name": e.name, "attributes": {k: str(v) for k, v in (e.attributes or {}).items()}}
                for e in s.events
            ],
        }
        for s in exporter.get_finished_spans()
    ]
    points = []
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    points.append(
                        {
                            "name": metric.name,
                            "attributes": {k: str(v) for k, v in (point.attributes or {}).items()},
                        }
                    )
    print(json.dumps({"spans": spans, "metrics": points}))


asyncio.run(main())
