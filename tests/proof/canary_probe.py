"""Run in a child process by test_canaries (global OTel and logging stay out of other tests).

Plants canary values, exercises every feature, then searches every HTTP response, every bus
message a spy user sees (except replies to the internal value subjects and render requests,
the raw log input and its delivery to the redactor — places values may legitimately be),
every log record at DEBUG, every span and metric label. Prints figures as JSON.
"""

import asyncio
import json
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

CANARIES = ["canary-ALPHA-7f3e9c2b", "canary-BETA-multi\nline-91ad", 'canary-GAMMA-"q"&<x>-5b']
# Where values legitimately travel: replies to the internal value subjects and to render
# requests (rendered output for the platform), the raw log input and its JetStream delivery
# to the redactor, and the create/update commands carrying a new value from the gateway to
# the secrets service (their requests, not their replies).
VALUE_COMMANDS = ("sigil.secrets.secret.create", "sigil.secrets.secret.update")
EXCLUDED_REQUESTS = (
    "sigil.secrets.internal.",
    "sigil.renderer.template.render",
    "$JS.API.CONSUMER.MSG.NEXT.SIGIL_LOGS_RAW",
)


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    handler = ListHandler()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(exc_text)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)

    import nats

    from sigil_cli.embedded import DataDir, NatsServer, nats_config
    from sigil_cli.tokens import issue_token
    from sigil_shared import operations as ops
    from sigil_shared import subjects
    from sigil_shared.bus import create_broker, request
    from sigil_shared.contracts import LogRecord, TemplateRenderRequest
    from sigil_shared.settings import BusSettings
    from tests.helpers import NatsFixture, run_setup
    from tests.integration.stack import running_stack

    root = Path(tempfile.mkdtemp())
    data = DataDir(root)
    data.prepare()
    conf = json.loads(
        nats_config(passwords=data.passwords(), store_dir=data.jetstream_dir, port=-1)
    )
    conf["authorization"]["users"].append(
        {
            "user": "spy",
            "password": "spy-password-for-the-probe",
            "permissions": {"publish": {"allow": ["_INBOX.>"]}, "subscribe": {"allow": [">"]}},
        }
    )
    data.nats_conf.write_text(json.dumps(conf))
    server = NatsServer(data.nats_conf)
    url = server.start()
    run_setup(url, data)  # the setup step, as sigil up runs it
    fixture = NatsFixture(url=url, data=data, server=server)
    seen: list[tuple[str, str | None, bytes]] = []
    spy = await nats.connect(url, user="spy", password="spy-password-for-the-probe")

    async def on_message(msg: Any) -> None:
        seen.append((msg.subject, msg.reply, msg.data))

    await spy.subscribe(">", cb=on_message)
    responses: list[str] = []
    try:
        key = data.jwt_key_file.read_text().strip()
        headers = {"Authorization": "Bearer " + issue_token(key, org="canary", role="admin")}
        async with running_stack(fixture) as stack:
            http = stack.http

            async def call(method: str, path: str, **kwargs: Any) -> Any:
                resp = await http.request(method, path, headers=headers, **kwargs)
                responses.append(json.dumps(dict(resp.headers)) + resp.text)
                return resp

            ids = []
            for i, canary in enumerate(CANARIES):
                created = await call(
                    "POST", "/api/v1/secrets", json={"key": f"C{i}", "value": canary}
                )
                ids.append(created.json()["id"])
            await call("POST", "/api/v1/secrets", json={"key": "C0", "value": CANARIES[0]})  # 409
            await call("POST", "/api/v1/secrets", json={"key": "_bad", "value": CANARIES[0]})
            await call("POST", "/api/v1/secrets", json={"key": "X", "value": CANARIES[0] * 9000})
            await call(
                "POST", "/api/v1/secrets", content=b'{"key": "Y", "value": "' + CANARIES[0].encode()
            )
            await call("GET", "/api/v1/secrets")
            await call("GET", f"/api/v1/secrets/{ids[0]}")
            await call("PUT", f"/api/v1/secrets/{ids[0]}", json={"value": CANARIES[0] + "-v2"})
            await call(
                "POST",
                "/api/v1/templates/validate",
                json={
                    "envFile": (
                        "A={{ .Secrets.C0 }}\nB={{ .Secrets.NOPE }}\n"
                        "{{ range .Secrets.C0 }}{{ end }}"
                    ),
                    "valuesYaml": "x: {{ .Secrets.C1 }}\ny: {{ .Secrets.C2 }\n",
                },
            )
            await call(
                "POST", "/api/v1/templates/validate", json={"valuesYaml": "x: {{ .Secrets.C1 }}\n"}
            )
            platform = create_broker(BusSettings(**fixture.creds("platform")), service="probe")
            await platform.connect()
            await request(
                platform,
                ops.TEMPLATE_RENDER,
                TemplateRenderRequest(
                    organization_id="canary",
                    deployment_id="web",
                    revision=1,
                    env_file="A={{ .Secrets.C0 }}",
                ),
                timeout=10,
            )
            js = platform.connection.jetstream()
            # Lines carry the values this deployment was rendered with or that are current in
            # its scope (C0 was updated before the render: its current value ends in -v2).
            for value in (CANARIES[0] + "-v2", *CANARIES[1:]):
                line = LogRecord(
                    deployment_id="web", timestamp=datetime.now(UTC), body=f"leak {value}"
                )
                await js.publish(
                    subjects.logs_raw("canary", "web"), line.model_dump_json().encode()
                )
            for _ in range(100):
                page = await call("GET", "/api/v1/deployments/web/logs")
                if len(page.json().get("items", [])) >= len(CANARIES):
                    break
                await asyncio.sleep(0.05)
            await call("GET", "/api/v1/deployments/web/logs/export")
            await call("GET", "/api/v1/audit")
            await call("DELETE", f"/api/v1/secrets/{ids[2]}?force=true")
            await platform.stop()
            await asyncio.sleep(0.2)
    finally:
        await spy.close()
        server.stop()

    excluded_inboxes = {
        reply for subject, reply, _ in seen if reply and subject.startswith(EXCLUDED_REQUESTS)
    }
    # JetStream delivers the raw records to the redactor on subjects below its fetch inbox.
    fetch_prefixes = tuple(
        reply
        for subject, reply, _ in seen
        if reply and subject.startswith("$JS.API.CONSUMER.MSG.NEXT.SIGIL_LOGS_RAW")
    )
    bus = [
        (s, d)
        for s, _, d in seen
        if s not in excluded_inboxes
        and not (fetch_prefixes and s.startswith(fetch_prefixes))
        and not s.startswith("sigil.logs.raw.")
        and s not in VALUE_COMMANDS
    ]
    spans = [
        json.dumps(
            {
                "name": s.name,
                "attributes": {k: str(v) for k, v in (s.attributes or {}).items()},
                "events": [
                    e.name + json.dumps({k: str(v) for k, v in (e.attributes or {}).items()})
                    for e in s.events
                ],
            }
        )
        for s in exporter.get_finished_spans()
    ]
    labels = []
    data_points = reader.get_metrics_data()
    for resource in data_points.resource_metrics if data_points else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                labels += [
                    json.dumps({k: str(v) for k, v in (p.attributes or {}).items()})
                    for p in metric.data.data_points
                ]
    places = {
        "http": responses,
        "bus": [d.decode("utf-8", "replace") for _, d in bus],
        "logs": handler.lines,
        "spans": spans,
        "metric labels": labels,
    }
    needles = [c for canary in CANARIES for c in (canary, *canary.splitlines())]
    leaks = {
        name: [t[:200] for t in texts if any(n in t for n in needles)]
        for name, texts in places.items()
    }
    leak_subjects = sorted(
        {s for s, d in bus if any(n in d.decode("utf-8", "replace") for n in needles)}
    )
    audit_events = sum(1 for s, _ in bus if s.startswith("sigil.audit."))
    print(
        json.dumps(
            {
                "searched": {k: len(v) for k, v in places.items()},
                "leaks": leaks,
                "leak_subjects": leak_subjects,
                "audit_events": audit_events,
                "bus_excluded": len(seen) - len(bus),
            }
        )
    )


asyncio.run(main())
