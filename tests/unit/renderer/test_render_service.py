"""Render path with fakes of the renderer's ports: cache freshness, pins, receipts, audit."""

import asyncio
from datetime import UTC, datetime

import pytest

from sigil_renderer.adapters.cached_secrets import CachedSecretsSource, ValueCache
from sigil_renderer.adapters.generations import parse_generation
from sigil_renderer.errors import PinnedVersionGoneError
from sigil_renderer.ports import StoredReceipt
from sigil_renderer.service import RendererService
from sigil_shared.contracts import (
    PinnedVersion,
    RenderReceipt,
    ResolvedSecret,
    TemplateRenderRequest,
    ValueUseEvent,
)
from sigil_shared.errors import ConflictError, InvalidRequestError, UnavailableError

CANARY = "canary-Unit-7781-value"
ORG = "acme"


class FakeSecrets:
    """The secrets service: current versions plus kept history, counting resolves."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str | None], dict[int, str]] = {}
        #: Keys with no current value whose history is kept (deleted, still pinned).
        self.deleted: set[str] = set()
        self.resolves = 0

    def put(self, key: str, value: str, customer: str | None = None) -> int:
        history = self.versions.setdefault((key, customer), {})
        version = max(history, default=0) + 1
        history[version] = value
        return version

    def _secret(self, key: str, customer: str | None, version: int) -> ResolvedSecret:
        return ResolvedSecret(
            key=key,
            customer_organization_id=customer,
            version=version,
            value=self.versions[(key, customer)][version],
        )

    async def resolve(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion] | None = None,
        keys: set[str] | None = None,
    ) -> dict[str, ResolvedSecret]:
        del org
        self.resolves += 1
        found: dict[str, ResolvedSecret] = {}
        for (key, scope), history in self.versions.items():
            if scope not in (None, customer) or (keys is not None and key not in keys):
                continue
            if key in self.deleted:
                continue
            if key in found and scope is None:
                continue  # the customer's own value wins
            found[key] = self._secret(key, scope, max(history))
        for pin in pinned or []:
            kept = self.versions.get((pin.key, pin.customer_organization_id), {})
            if pin.version in kept:
                found[pin.key] = self._secret(pin.key, pin.customer_organization_id, pin.version)
        return found


class FakeGenerations:
    def __init__(self) -> None:
        self.value: int | None = 1
        self.reads = 0

    async def current(self, org: str) -> int | None:
        del org
        self.reads += 1
        return self.value


class FakeReceipts:
    def __init__(self) -> None:
        self.stored: dict[tuple[str, str, int], StoredReceipt] = {}
        self.owners: dict[tuple[str, str], str | None] = {}
        self.lose_next_create = False

    async def get(self, org: str, deployment: str, revision: int) -> StoredReceipt | None:
        return self.stored.get((org, deployment, revision))

    async def claim_owner(self, org: str, deployment: str, customer: str | None) -> str | None:
        return self.owners.setdefault((org, deployment), customer)

    async def create(self, receipt: RenderReceipt, *, encoded: bytes | None = None) -> bool:
        assert encoded is None or encoded == receipt.model_dump_json().encode()
        key = (receipt.organization_id, receipt.deployment_id, receipt.revision)
        if self.lose_next_create:
            # Another replica rendered the same new revision a moment earlier.
            self.lose_next_create = False
            self.stored[key] = StoredReceipt(receipt=receipt, revision=7)
            return False
        if key in self.stored:
            return False
        self.stored[key] = StoredReceipt(receipt=receipt, revision=1)
        return True

    async def update(self, receipt: RenderReceipt, *, last: int) -> bool:
        key = (receipt.organization_id, receipt.deployment_id, receipt.revision)
        if self.stored[key].revision != last:
            return False
        self.stored[key] = StoredReceipt(receipt=receipt, revision=last + 1)
        return True

    async def organization(self, org: str) -> list[RenderReceipt]:
        return [s.receipt for k, s in self.stored.items() if k[0] == org]


class FakeEvents:
    def __init__(self) -> None:
        self.receipts: list[RenderReceipt] = []

    async def published(self, receipt: RenderReceipt, *, encoded: bytes | None = None) -> None:
        assert encoded is None or encoded == receipt.model_dump_json().encode()
        self.receipts.append(receipt)


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[ValueUseEvent] = []
        self.fail = False

    async def record(self, event: ValueUseEvent) -> None:
        if self.fail:
            raise UnavailableError("audit intake is unavailable; nothing was rendered")
        self.events.append(event)


class Harness:
    def __init__(self) -> None:
        self.secrets = FakeSecrets()
        self.generations = FakeGenerations()
        self.cache = ValueCache()
        self.receipts = FakeReceipts()
        self.events = FakeEvents()
        self.audit = FakeAudit()
        self.service = RendererService(
            secrets=CachedSecretsSource(self.secrets, self.generations, self.cache),
            receipts=self.receipts,
            events=self.events,
            audit=self.audit,
            clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        )

    async def render(self, env: str, *, deployment: str = "web", revision: int = 1) -> str:
        reply = await self.service.render(
            TemplateRenderRequest(
                organization_id=ORG, deployment_id=deployment, revision=revision, env_file=env
            )
        )
        assert reply.env_file is not None
        return reply.env_file.get_secret_value()


@pytest.fixture
def h() -> Harness:
    return Harness()


async def test_cached_values_make_no_resolve_until_the_generation_moves(h: Harness) -> None:
    h.secrets.put("K", "one")
    assert await h.render("K={{ .Secrets.K }}", revision=1) == "K=one"
    assert await h.render("K={{ .Secrets.K }}", revision=2) == "K=one"
    assert h.secrets.resolves == 1
    h.secrets.put("K", "two")
    h.generations.value = 2
    assert await h.render("K={{ .Secrets.K }}", revision=3) == "K=two"
    assert h.secrets.resolves == 2


async def test_unknown_generation_never_caches(h: Harness) -> None:
    h.generations.value = None
    h.secrets.put("K", "one")
    await h.render("K={{ .Secrets.K }}", revision=1)
    h.secrets.put("K", "two")
    assert await h.render("K={{ .Secrets.K }}", revision=2) == "K=two"
    assert len(h.cache) == 0


async def test_concurrent_misses_share_one_resolve(h: Harness) -> None:
    h.secrets.put("K", "one")
    outputs = await asyncio.gather(
        *(h.render("K={{ .Secrets.K }}", revision=i) for i in range(1, 11))
    )
    assert set(outputs) == {"K=one"}
    assert h.secrets.resolves == 1


async def test_rerender_uses_pinned_version_not_current(h: Harness) -> None:
    h.secrets.put("K", "v1-value")
    await h.render("K={{ .Secrets.K }}")
    for i in range(2, 42):
        h.secrets.put("K", f"v{i}-value")
    h.generations.value = 41
    assert await h.render("K={{ .Secrets.K }}") == "K=v1-value"
    assert await h.render("K={{ .Secrets.K }}", revision=2) == "K=v41-value"


async def test_pinned_version_gone_fails_naming_key_and_version(h: Harness) -> None:
    h.secrets.put("K", CANARY)
    await h.render("K={{ .Secrets.K }}")
    h.secrets.put("K", "v2")
    del h.secrets.versions[("K", None)][1]  # forced cleanup
    h.generations.value = 2
    with pytest.raises(PinnedVersionGoneError) as info:
        await h.render("K={{ .Secrets.K }}")
    assert "secret K" in info.value.message
    assert "version 1" in info.value.message
    assert info.value.details["version"] == 1
    assert CANARY not in repr(info.value.details) + info.value.message
    assert h.audit.events[-1].outcome == "not_found"


async def test_rerender_with_a_new_key_grows_the_receipt(h: Harness) -> None:
    h.secrets.put("A", "a1")
    h.secrets.put("B", "b1")
    await h.render("A={{ .Secrets.A }}")
    assert await h.render("A={{ .Secrets.A }}\nB={{ .Secrets.B }}") == "A=a1\nB=b1"
    receipt = h.receipts.stored[(ORG, "web", 1)].receipt
    assert [(e.key, e.version) for e in receipt.secrets] == [("A", 1), ("B", 1)]
    assert [len(r.secrets) for r in h.events.receipts] == [1, 2]
    h.secrets.put("B", "b2")
    h.generations.value = 3
    # B is now pinned too: the revision keeps rendering with version 1.
    assert await h.render("A={{ .Secrets.A }}\nB={{ .Secrets.B }}") == "A=a1\nB=b1"


async def test_every_render_is_audited_before_the_reply_without_values(h: Harness) -> None:
    h.secrets.put("K", CANARY)
    await h.render("K={{ .Secrets.K }}", deployment="d1", revision=4)
    (event,) = h.audit.events
    assert event.action == "template.render"
    assert (event.deployment_id, event.revision, event.outcome) == ("d1", "4", "success")
    assert [(k.key, k.customer_organization_id, k.version) for k in event.keys] == [("K", None, 1)]
    assert CANARY not in event.model_dump_json()


async def test_no_reply_when_the_audit_record_cannot_be_written(h: Harness) -> None:
    h.secrets.put("K", "one")
    h.audit.fail = True
    with pytest.raises(UnavailableError):
        await h.render("K={{ .Secrets.K }}")


async def test_rejected_render_is_audited_with_its_error_code(h: Harness) -> None:
    with pytest.raises(InvalidRequestError):
        await h.render("K={{ .Secrets.MISSING }}")
    assert [e.outcome for e in h.audit.events] == ["invalid_request"]
    assert h.receipts.stored == {}


async def test_lost_receipt_race_re_renders_from_the_winner(h: Harness) -> None:
    h.secrets.put("K", "one")
    h.receipts.lose_next_create = True
    reply = await h.service.render(
        TemplateRenderRequest(
            organization_id=ORG, deployment_id="web", revision=1, env_file="K={{ .Secrets.K }}"
        )
    )
    assert reply.reused_receipt is True
    # The lost attempt's output was thrown away unseen: one use, with the winner's pins.
    (event,) = h.audit.events
    assert [(k.key, k.version) for k in event.keys] == [("K", 1)]


async def test_a_rendered_revision_renders_its_pins_when_current_values_would_fail(
    h: Harness,
) -> None:
    """The first attempt takes a revision to be new; when the current values cannot render
    it (a key deleted since), the revision's receipt decides, not an error."""
    h.secrets.put("K", "kept")
    assert await h.render("K={{ .Secrets.K }}") == "K=kept"
    h.secrets.deleted.add("K")  # deleted: no current value, the pinned version is kept
    h.generations.value = 2
    assert await h.render("K={{ .Secrets.K }}") == "K=kept"
    assert [e.outcome for e in h.audit.events] == ["success", "success"]


async def test_rerender_for_another_scope_is_refused(h: Harness) -> None:
    h.secrets.put("K", "vendor")
    h.secrets.put("K", "customer", customer="c1")
    await h.render("K={{ .Secrets.K }}")
    with pytest.raises(ConflictError):
        await h.service.render(
            TemplateRenderRequest(
                organization_id=ORG,
                customer_organization_id="c1",
                deployment_id="web",
                revision=1,
                env_file="K={{ .Secrets.K }}",
            )
        )


def test_cache_is_bounded_by_scopes_and_bytes() -> None:
    cache = ValueCache(max_scopes=2, max_bytes=10)

    def secret(value: str) -> dict[str, ResolvedSecret]:
        return {"K": ResolvedSecret(key="K", customer_organization_id=None, version=1, value=value)}

    cache.store(("o", "c1"), 1, {"K"}, secret("aaaa"))
    cache.store(("o", "c2"), 1, {"K"}, secret("bbbb"))
    cache.store(("o", "c3"), 1, {"K"}, secret("cccc"))
    assert len(cache) == 2
    assert cache.lookup(("o", "c1"), 1, {"K"}) == ({}, {"K"})
    cache.store(("o", "c4"), 1, {"K"}, secret("d" * 9))
    assert cache.size <= 10
    cache.drop_organization("o")
    assert (len(cache), cache.size) == (0, 0)


def test_idle_values_are_dropped() -> None:
    now = [0.0]
    cache = ValueCache(max_idle=60, clock=lambda: now[0])
    value = {"K": ResolvedSecret(key="K", customer_organization_id=None, version=1, value="v")}
    cache.store(("o", "busy"), 1, {"K"}, value)
    cache.store(("o", "idle"), 1, {"K"}, value)
    now[0] = 50
    assert cache.lookup(("o", "busy"), 1, {"K"})[1] == set()
    now[0] = 100
    assert cache.lookup(("o", "busy"), 1, {"K"})[1] == set()
    assert (len(cache), cache.size) == (1, 1)


def test_older_fetch_never_overwrites_a_newer_generation() -> None:
    cache = ValueCache()
    new = {"K": ResolvedSecret(key="K", customer_organization_id=None, version=2, value="new")}
    old = {"K": ResolvedSecret(key="K", customer_organization_id=None, version=1, value="old")}
    cache.store(("o", None), 5, {"K"}, new)
    cache.store(("o", None), 4, {"K"}, old)
    found, unknown = cache.lookup(("o", None), 5, {"K"})
    assert (found["K"].version, unknown) == (2, set())
    assert cache.lookup(("o", None), 6, {"K"}) == ({}, {"K"})


def test_generation_reply_parsing() -> None:
    assert parse_generation({"Nats-Sequence": "9"}, b"42") == 42
    assert parse_generation({"Status": "404", "Description": "Message Not Found"}, b"") is None
    assert parse_generation({"KV-Operation": "DEL"}, b"") is None
    assert parse_generation(None, b"not-a-number") is None


def test_a_receipt_create_ack_is_read_as_stored_taken_or_unavailable() -> None:
    from sigil_renderer.adapters.receipts import _created

    assert _created(b'{"stream":"KV_sigil-receipts","seq":7}') is True
    taken = b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}'
    assert _created(taken) is False
    for other in (
        b'{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled"}}',
        b"",
        b"not json",
        b"[]",
        b'{"stream":"KV_sigil-receipts"}',
    ):
        with pytest.raises(UnavailableError):
            _created(other)


async def test_templates_naming_more_secrets_than_an_audit_event_holds_are_refused(
    h: Harness,
) -> None:
    """Every use must fit one bounded audit event: a render or validation naming more than
    MAX_VALUE_USE_KEYS different secrets is refused (from the text alone), and audited."""
    from sigil_shared.contracts import Actor, Role, TemplateValidateRequest
    from sigil_shared.contracts.audit import MAX_VALUE_USE_KEYS

    env = "".join(f"K{i}={{{{ .Secrets.K{i} }}}}\n" for i in range(MAX_VALUE_USE_KEYS + 1))
    with pytest.raises(InvalidRequestError, match="at most"):
        await h.render(env)
    reader = Actor(user_id="r", organization_id=ORG, role=Role.READ_ONLY)
    with pytest.raises(InvalidRequestError, match="at most"):
        await h.service.validate(
            TemplateValidateRequest(actor=reader, request_id="req-1", env_file=env)
        )
    assert [(e.action, e.outcome, e.keys) for e in h.audit.events] == [
        ("template.render", "invalid_request", []),
        ("template.validate", "invalid_request", []),
    ]
    assert h.receipts.stored == {}
    limit = "".join(f"K{i}={{{{ .Secrets.K{i} }}}}\n" for i in range(MAX_VALUE_USE_KEYS))
    reply = await h.service.validate(
        TemplateValidateRequest(actor=reader, request_id="req-2", env_file=limit)
    )
    assert not reply.valid
    assert len(h.audit.events[-1].keys) == MAX_VALUE_USE_KEYS
