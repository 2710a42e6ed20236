"""The redactor service with hand-written fakes of its ports: fail closed, metrics, parsing."""

from datetime import UTC, datetime

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from sigil_redactor.service import RedactorService, backoff
from sigil_shared.contracts import LogEntry, LogRecord, PinnedVersion, RenderReceipt
from sigil_shared.errors import UnavailableError

NOW = datetime(2026, 11, 28, tzinfo=UTC)
DOWN = "no service answers on sigil.secrets.internal.redaction_values"


class FakeMessage:
    def __init__(self, subject: str, data: bytes, sequence: int) -> None:
        self.subject = subject
        self.data = data
        self._sequence = sequence
        self.acked = False
        self.naked: float | None = None

    @property
    def sequence(self) -> int:
        return self._sequence

    @property
    def deliveries(self) -> int:
        return 1

    async def ack(self) -> None:
        self.acked = True

    async def nak(self, delay: float) -> None:
        self.naked = delay


class FakeReceipts:
    async def receipts(self, org: str, deployment: str) -> list[RenderReceipt]:
        return []


class FakeValues:
    def __init__(self, values: list[str] | None) -> None:
        self.values_list = values

    async def values(
        self, org: str, customer: str | None, pinned: list[PinnedVersion]
    ) -> list[str]:
        if self.values_list is None:
            raise UnavailableError("no service answers on sigil.secrets.internal.redaction_values")
        return self.values_list


class FakeLogs:
    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    async def store(self, org: str, deployment: str, data: bytes, *, msg_id: str) -> None:
        self.stored.setdefault(msg_id, data)

    async def page(
        self, org: str, deployment: str, *, before: int | None, after: int | None, limit: int
    ) -> list[LogEntry]:
        return []


def _service(
    values: list[str] | None, logs: FakeLogs, reader: InMemoryMetricReader
) -> RedactorService:
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    return RedactorService(
        receipts=FakeReceipts(),
        values=FakeValues(values),
        logs=logs,
        min_length=4,
        cache_size=8,
        meter=meter,
        clock=lambda: NOW,
    )


def _record(body: str) -> bytes:
    return LogRecord(deployment_id="d", timestamp=NOW, body=body).model_dump_json().encode()


def _metrics(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    label = str(dict(point.attributes or {}).get("outcome", ""))
                    found[(metric.name, label)] = int(point.value)
    return found


async def test_records_are_held_not_forwarded_when_values_are_unavailable() -> None:
    logs, reader = FakeLogs(), InMemoryMetricReader()
    service = _service(None, logs, reader)
    messages = [FakeMessage("sigil.logs.raw.o.d", _record("secret-value"), n) for n in range(3)]
    await service.process(messages)  # type: ignore[arg-type]
    assert logs.stored == {}
    assert all(m.naked == backoff(1) and not m.acked for m in messages)
    assert service.health() == {"redaction": f"holding records: {DOWN}"}
    assert _metrics(reader)[("sigil.redactor.lines", "held")] == 3


async def test_records_are_acked_after_storing_and_counted() -> None:
    logs, reader = FakeLogs(), InMemoryMetricReader()
    service = _service(["secret-value"], logs, reader)
    service.backlog = 7
    messages = [
        FakeMessage("sigil.logs.raw.o.d", _record("x secret-value y"), 1),
        FakeMessage("sigil.logs.raw.o.d", b"\xff not json secret-value", 2),
    ]
    await service.process(messages)  # type: ignore[arg-type]
    assert all(m.acked for m in messages)
    bodies = [LogRecord.model_validate_json(v).body for v in logs.stored.values()]
    assert bodies[0] == "x ******** y"
    assert bodies[1].endswith("not json ********")
    assert b"secret-value" not in b"".join(logs.stored.values())
    found = _metrics(reader)
    assert found[("sigil.redactor.lines", "redacted")] == 2
    assert found[("sigil.redactor.backlog", "")] == 7
    assert found[("sigil.redactor.bytes", "")] > 0
