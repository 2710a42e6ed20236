"""The redactor service with hand-written fakes of its ports: fail closed, metrics, parsing,
batches, every field, scope from receipts, cut after redaction, byte-bounded pages."""

import asyncio
import json
import logging
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from sigil_redactor.service import RedactorService, StoredPage, backoff
from sigil_shared.contracts import (
    Actor,
    LogEntry,
    LogPageRequest,
    LogRecord,
    PinnedVersion,
    RenderReceipt,
    Role,
)
from sigil_shared.contracts.logs import entry_sequence, stored_records
from sigil_shared.errors import NotFoundError, UnavailableError

NOW = datetime(2026, 11, 28, tzinfo=UTC)
DOWN = "no service answers on sigil.secrets.internal.redaction_values"


class FakeMessage:
    def __init__(self, subject: str, data: bytes, sequence: int) -> None:
        self.subject = subject
        self.data = data
        self._sequence = sequence
        self.acked = False
        self.naked: float | None = None
        self.termed = False

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

    async def term(self) -> None:
        self.termed = True


class FakeReceipts:
    def __init__(self, receipts: list[RenderReceipt] | None = None) -> None:
        self.found = receipts or []

    async def receipts(self, org: str, deployment: str) -> list[RenderReceipt]:
        return self.found


class FakeValues:
    def __init__(self, values: list[str] | None) -> None:
        self.values_list = values
        self.asked: list[tuple[str | None, bool, list[PinnedVersion]]] = []

    async def values(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion],
        *,
        all_customers: bool,
    ) -> list[str]:
        self.asked.append((customer, all_customers, pinned))
        if self.values_list is None:
            raise UnavailableError("no service answers on sigil.secrets.internal.redaction_values")
        return self.values_list


class FakeLogs:
    def __init__(self, max_payload: int = 1024 * 1024) -> None:
        self.stored: dict[str, bytes] = {}
        self.pages: list[LogEntry] = []
        self._max_payload = max_payload

    @property
    def max_payload(self) -> int:
        return self._max_payload

    async def store(
        self, org: str, deployment: str, data: bytes, *, msg_id: str, records: int
    ) -> None:
        assert len(data) <= self._max_payload
        assert len(stored_records(data)) == records
        self.stored.setdefault(msg_id, data)

    async def page(
        self,
        org: str,
        deployment: str,
        *,
        before: int | None,
        after: int | None,
        limit: int,
        max_bytes: int,
    ) -> StoredPage:
        return StoredPage(entries=self.pages[-limit:], more=len(self.pages) > limit)


def _service(
    values: list[str] | None,
    logs: FakeLogs,
    reader: InMemoryMetricReader,
    *,
    receipts: FakeReceipts | None = None,
    source: FakeValues | None = None,
) -> RedactorService:
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    return RedactorService(
        receipts=receipts or FakeReceipts(),
        values=source or FakeValues(values),
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


SECRET = "canary-secret-7f3a"


def _records(logs: FakeLogs) -> list[LogRecord]:
    return [r for data in logs.stored.values() for r in stored_records(data)]


async def test_every_text_field_is_masked() -> None:
    logs = FakeLogs()
    service = _service([SECRET], logs, InMemoryMetricReader())
    record = {
        "deploymentId": "d",
        "timestamp": NOW.isoformat(),
        "body": f"b {SECRET}",
        "resource": f"--password={SECRET}",
        "severity": SECRET,
        "attributes": {"k": f"v {SECRET}", f"key-{SECRET}": "x", "n": 5},
    }
    msg = FakeMessage("sigil.logs.raw.o.d", json.dumps(record).encode(), 1)
    await service.process([msg])  # type: ignore[list-item]
    assert msg.acked
    (stored,) = _records(logs)
    assert stored.body == "b ********"
    assert stored.resource == "--password=********"
    assert stored.severity == "********"
    assert stored.attributes == {"k": "v ********", "key-********": "x", "n": "5"}
    assert SECRET.encode() not in b"".join(logs.stored.values())


async def test_batches_and_single_records_mixed_keep_order_and_sequence_parts() -> None:
    logs = FakeLogs()
    service = _service([SECRET], logs, InMemoryMetricReader())
    batch = json.dumps(
        [{"timestamp": NOW.isoformat(), "body": f"{i} {SECRET}"} for i in range(500)]
        + ["not a record", {"body": "no timestamp"}]
    ).encode()
    messages = [
        FakeMessage("sigil.logs.raw.o.d", _record(f"single {SECRET}"), 1),
        FakeMessage("sigil.logs.raw.o.d", batch, 2),
        FakeMessage("sigil.logs.raw.o.d", b"[]", 3),
        FakeMessage("sigil.logs.raw.o.d", b"plain text " + SECRET.encode(), 4),
    ]
    await service.process(messages)  # type: ignore[arg-type]
    assert all(m.acked for m in messages)
    assert set(logs.stored) == {"raw-1", "raw-2", "raw-4"}
    bodies = [r.body for r in _records(logs)]
    assert bodies[0] == "single ********"
    assert bodies[1:501] == [f"{i} ********" for i in range(500)]
    assert bodies[501] == '"not a record"'
    assert json.loads(bodies[502]) == {"body": "no timestamp"}
    assert bodies[503] == "plain text ********"
    assert service.counters.redacted == 504


async def test_a_large_batch_is_stored_in_parts_split_the_same_way_every_time() -> None:
    logs = FakeLogs(max_payload=256 * 1024)
    service = _service([SECRET], logs, InMemoryMetricReader())
    batch = json.dumps(
        [{"timestamp": NOW.isoformat(), "body": f"{i} {SECRET} " + "y" * 900} for i in range(600)]
    ).encode()
    await service.process([FakeMessage("sigil.logs.raw.o.d", batch, 9)])  # type: ignore[list-item]
    first = dict(logs.stored)
    assert len(first) > 1
    assert next(iter(first)) == "raw-9"
    assert [int(r.body.split()[0]) for r in _records(logs)] == list(range(600))
    # A redelivery (different values by then) splits along the same records: same ids.
    again = FakeLogs(max_payload=256 * 1024)
    other = _service([SECRET, "y" * 900], again, InMemoryMetricReader())
    await other.process([FakeMessage("sigil.logs.raw.o.d", batch, 9)])  # type: ignore[list-item]
    assert list(again.stored) == list(first)
    assert [len(stored_records(d)) for d in again.stored.values()] == [
        len(stored_records(d)) for d in first.values()
    ]


async def test_an_oversized_record_is_redacted_whole_before_it_is_cut() -> None:
    logs = FakeLogs()
    service = _service([SECRET], logs, InMemoryMetricReader())
    cut = service.limits.record
    # A cut-first redactor would keep "canary-se" at the end of the stored body.
    body = "a" * (cut - 200) + SECRET + "b" * 300_000
    data = json.dumps({"timestamp": NOW.isoformat(), "body": body}).encode()
    msg = FakeMessage("sigil.logs.raw.o.d", data, 1)
    await service.process([msg])  # type: ignore[list-item]
    assert msg.acked
    (stored,) = _records(logs)
    assert stored.truncated
    assert len(logs.stored["raw-1"]) <= cut
    assert "canary" not in stored.body
    assert "a" * 10 + "********" + "b" * 10 in stored.body


async def test_scope_without_receipts_is_the_whole_organization() -> None:
    source = FakeValues([SECRET])
    service = _service(None, FakeLogs(), InMemoryMetricReader(), source=source)
    # The record claims a customer: the claim does not choose the scope.
    record = LogRecord(
        deployment_id="d", timestamp=NOW, body="x", customer_organization_id="c1"
    ).model_dump_json()
    await service.process([FakeMessage("sigil.logs.raw.o.d", record.encode(), 1)])  # type: ignore[list-item]
    assert source.asked == [(None, True, [])]


async def test_scope_with_receipts_is_the_newest_customer_and_every_pin() -> None:
    source = FakeValues([SECRET])
    receipts = FakeReceipts(
        [
            RenderReceipt.model_validate(
                {
                    "organizationId": "o",
                    "deploymentId": "d",
                    "revision": rev,
                    "customerOrganizationId": "c1",
                    "secrets": [{"key": "K", "customerOrganizationId": "c1", "version": rev}],
                    "renderedAt": NOW.isoformat(),
                }
            )
            for rev in (1, 2)
        ]
    )
    service = _service(None, FakeLogs(), InMemoryMetricReader(), receipts=receipts, source=source)
    await service.process([FakeMessage("sigil.logs.raw.o.d", _record("x"), 1)])  # type: ignore[list-item]
    ((customer, everyone, pinned),) = source.asked
    assert (customer, everyone) == ("c1", False)
    assert sorted(p.version for p in pinned) == [1, 2]


async def test_pages_stay_within_the_payload_budget() -> None:
    logs = FakeLogs(max_payload=1024 * 1024)
    service = _service([SECRET], logs, InMemoryMetricReader())
    big = "z" * (300 * 1024) + SECRET
    logs.pages = [
        LogEntry(
            sequence=entry_sequence(n, 0),
            record=LogRecord(deployment_id="d", timestamp=NOW, body=big),
        )
        for n in range(1, 11)
    ]
    admin = Actor(user_id="u", organization_id="o", role=Role.ADMIN)
    reply = await service.page(
        LogPageRequest(actor=admin, request_id="r", deployment_id="d", limit=1000)
    )
    assert 0 < len(reply.items) < 10
    assert len(reply.model_dump_json()) < 1024 * 1024 - 32 * 1024
    assert reply.more
    assert reply.next_before == reply.items[0].sequence
    assert all(SECRET not in e.record.body for e in reply.items)


class FakeGenerations:
    def __init__(self) -> None:
        self.value: int | None = 1

    async def current(self, org: str) -> int | None:
        return self.value


async def test_a_newer_scope_generation_rebuilds_the_matcher_without_any_event() -> None:
    logs, source, generations = FakeLogs(), FakeValues(["old-value-1111"]), FakeGenerations()
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("test")
    service = RedactorService(
        receipts=FakeReceipts(),
        values=source,
        logs=logs,
        generations=generations,
        min_length=4,
        cache_size=8,
        meter=meter,
        clock=lambda: NOW,
    )
    await service.process([FakeMessage("sigil.logs.raw.o.d", _record("a old-value-1111"), 1)])  # type: ignore[list-item]
    # An update was acknowledged (generation 2) but its change event has not arrived.
    source.values_list = ["old-value-1111", "new-value-2222"]
    generations.value = 2
    await service.process([FakeMessage("sigil.logs.raw.o.d", _record("b new-value-2222"), 2)])  # type: ignore[list-item]
    # The generation could not be read: rebuilt all the same (fail safe, never stale).
    source.values_list = ["third-value-3333"]
    generations.value = None
    await service.process([FakeMessage("sigil.logs.raw.o.d", _record("c third-value-3333"), 3)])  # type: ignore[list-item]
    assert [r.body for r in _records(logs)] == ["a ********", "b ********", "c ********"]
    assert len(source.asked) == 3


# --- Red-team findings: refused subjects, ownership from receipts, no stored customer ----


@pytest.mark.parametrize(
    "subject",
    [
        "sigil.logs.raw.orgA",
        "sigil.logs.raw.orgA.dep1.extra",
        "sigil.logs.raw.org$B.dep1",
        "sigil.logs.raw.orgB.d\u00e9p",
        "sigil.logs.raw.orgB." + "d" * 100,
        "sigil.logs.raw.orgB.-dep",
        "sigil.logs.raw.orgB.",
    ],
)
async def test_messages_on_malformed_subjects_are_terminated_never_stored(
    subject: str, caplog: pytest.LogCaptureFixture
) -> None:
    logs, reader = FakeLogs(), InMemoryMetricReader()
    service = _service([SECRET], logs, reader)
    bad = FakeMessage(subject, _record(f"leak {SECRET} body-canary-51"), 1)
    good = FakeMessage("sigil.logs.raw.o.d", _record("fine"), 2)
    with caplog.at_level(logging.DEBUG):
        await service.process([bad, good])  # type: ignore[list-item]
    assert bad.termed
    assert not bad.acked
    assert bad.naked is None
    assert good.acked
    assert not good.termed
    assert [r.body for r in _records(logs)] == ["fine"]
    assert service.counters.refused == 1
    assert _metrics(reader)[("sigil.redactor.refused", "")] == 1
    assert "refused 1 raw log message" in caplog.text
    # The log line quotes neither the content nor the subject.
    for canary in (SECRET, "body-canary-51", subject.split(".", 3)[3]):
        assert canary not in caplog.text


def _receipt(rev: int, customer: str | None) -> RenderReceipt:
    return RenderReceipt.model_validate(
        {
            "organizationId": "o",
            "deploymentId": "d",
            "revision": rev,
            "customerOrganizationId": customer,
            "secrets": [],
            "renderedAt": NOW.isoformat(),
        }
    )


def _claiming(customers: list[str]) -> list[LogEntry]:
    """Stored records that each claim a customer (as records written before this fix did)."""
    return [
        LogEntry(
            sequence=entry_sequence(n + 1, 0),
            record=LogRecord(
                deployment_id="d", timestamp=NOW, body=f"line {n}", customer_organization_id=c
            ),
        )
        for n, c in enumerate(customers)
    ]


def _reader(customer: str | None) -> Actor:
    return Actor(
        user_id="u", organization_id="o", customer_organization_id=customer, role=Role.READ_ONLY
    )


async def test_without_receipts_only_vendor_users_read_whatever_the_records_claim() -> None:
    logs = FakeLogs()
    logs.pages = _claiming(["custB", "custB", "custB2", "custB"])
    service = _service([SECRET], logs, InMemoryMetricReader())
    for customer in ("custB", "custB2"):
        for cursor in ({}, {"after": logs.pages[1].sequence}, {"limit": 1}):
            with pytest.raises(NotFoundError):
                await service.page(
                    LogPageRequest(
                        actor=_reader(customer), request_id="r", deployment_id="d", **cursor
                    )
                )
    reply = await service.page(
        LogPageRequest(actor=_reader(None), request_id="r", deployment_id="d")
    )
    assert len(reply.items) == 4
    # The claim written into old stored records is not shown either.
    assert all(e.record.customer_organization_id is None for e in reply.items)


async def test_the_newest_receipts_customer_reads_and_no_other_customer_does() -> None:
    logs = FakeLogs()
    logs.pages = _claiming(["custB2", "custB2"])  # the records' claim changes nothing
    receipts = FakeReceipts([_receipt(1, "custA"), _receipt(2, "custB")])
    service = _service([SECRET], logs, InMemoryMetricReader(), receipts=receipts)
    own = await service.page(
        LogPageRequest(actor=_reader("custB"), request_id="r", deployment_id="d")
    )
    assert [e.record.body for e in own.items] == ["line 0", "line 1"]
    for other in ("custB2", "custA"):
        with pytest.raises(NotFoundError):
            await service.page(
                LogPageRequest(actor=_reader(other), request_id="r", deployment_id="d", after=1)
            )
    assert (
        len(
            (
                await service.page(
                    LogPageRequest(actor=_reader(None), request_id="r", deployment_id="d")
                )
            ).items
        )
        == 2
    )
    # Re-rendered for another customer: the next read follows the receipts at once.
    receipts.found = [*receipts.found, _receipt(3, "custC")]
    with pytest.raises(NotFoundError):
        await service.page(
            LogPageRequest(actor=_reader("custB"), request_id="r", deployment_id="d")
        )
    assert (
        await service.page(
            LogPageRequest(actor=_reader("custC"), request_id="r", deployment_id="d")
        )
    ).items
    # A vendor-internal deployment (no customer on its receipt): vendor users only.
    receipts.found = [_receipt(4, None)]
    with pytest.raises(NotFoundError):
        await service.page(
            LogPageRequest(actor=_reader("custC"), request_id="r", deployment_id="d")
        )


async def test_a_records_customer_field_is_not_stored() -> None:
    logs = FakeLogs()
    # A secret value fitting the id pattern, given as the customer: never stored.
    value = "Cust-Canary_77aa"
    service = _service([value], logs, InMemoryMetricReader())
    record = {"timestamp": NOW.isoformat(), "body": "b", "customerOrganizationId": value}
    msg = FakeMessage("sigil.logs.raw.o.d", json.dumps(record).encode(), 1)
    await service.process([msg])  # type: ignore[list-item]
    assert msg.acked
    (stored,) = _records(logs)
    assert stored.customer_organization_id is None
    assert value.encode() not in b"".join(logs.stored.values())


class OrgValues(FakeValues):
    """The slow organization's values arrive only once the other's have been asked for."""

    def __init__(self) -> None:
        super().__init__(["secret-value"])
        self.orgs: list[str] = []
        self._other_asked = asyncio.Event()

    async def values(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion],
        *,
        all_customers: bool,
    ) -> list[str]:
        self.orgs.append(org)
        if org == "slow":
            await self._other_asked.wait()
        else:
            self._other_asked.set()
        return [f"{org}-secret-value"]


async def test_a_fetchs_groups_wait_for_their_matchers_together_not_one_after_another() -> None:
    logs, reader, source = FakeLogs(), InMemoryMetricReader(), OrgValues()
    service = _service(None, logs, reader, source=source)
    messages = [
        FakeMessage("sigil.logs.raw.slow.d", _record("x slow-secret-value"), 1),
        FakeMessage("sigil.logs.raw.fast.d", _record("y fast-secret-value"), 2),
    ]
    # One group after another, the slow group's matcher would wait forever for the fast one's.
    await asyncio.wait_for(service.process(messages), 10)  # type: ignore[arg-type]
    assert source.orgs == ["slow", "fast"]
    assert all(m.acked for m in messages)
    assert [r.body for r in _records(logs)] == ["x ********", "y ********"]
