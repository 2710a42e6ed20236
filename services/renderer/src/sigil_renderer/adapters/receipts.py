"""KvReceiptStore: render receipts in a JetStream KV bucket, one key per deployment revision."""

import json

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.errors import Error as JsError
from nats.js.kv import KeyValue

from sigil_renderer.ports import StoredReceipt
from sigil_shared.contracts import RenderReceipt
from sigil_shared.errors import UnavailableError
from sigil_shared.jetstream import scan_last_per_subject
from sigil_shared.subjects import kv_stream

# Direct-get reply headers (the server's, as nats-py parses them).
_STATUS = "Status"
_NOT_FOUND = "404"
_SEQUENCE = "Nats-Sequence"
_KV_OPERATION = "KV-Operation"
_REMOVED = ("DEL", "PURGE")
#: A KV create: stored only if the key was never written (else JetStream error 10071).
_CREATE_ONLY = {"Nats-Expected-Last-Subject-Sequence": "0"}
_WRONG_LAST_SEQUENCE = 10071
#: Deployments whose owner this process knows (an owner record never changes once written).
OWNERS_KNOWN = 65_536


def receipt_key(org: str, deployment: str, revision: int) -> str:
    """``o.<org>.d.<deployment>.r.<revision>``."""
    return f"o.{org}.d.{deployment}.r.{revision}"


def owner_key(org: str, deployment: str) -> str:
    """``o.<org>.d.<deployment>.owner``: the scope the deployment was first rendered for."""
    return f"o.{org}.d.{deployment}.owner"


class KvReceiptStore:
    """Receipts: (key, scope, version) triples per rendered revision; never values."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        *,
        bucket: str,
        replicas: int = 1,
        timeout: float = 5.0,
    ) -> None:
        self._nc = nc
        self._js = js
        self._bucket = bucket
        self._direct = f"$JS.API.DIRECT.GET.{kv_stream(bucket)}.$KV.{bucket}."
        self._timeout = timeout
        self._replicas = replicas
        self._kv: KeyValue | None = None
        #: (org, deployment) -> owner, as read or written: create-only, so never stale.
        self._owners: dict[tuple[str, str], str | None] = {}

    async def setup(self) -> None:
        """Bind to (or create) the bucket."""
        try:
            try:
                self._kv = await self._js.key_value(self._bucket)
            except BucketNotFoundError:
                self._kv = await self._js.create_key_value(
                    KeyValueConfig(
                        bucket=self._bucket,
                        history=1,
                        storage=StorageType.FILE,
                        replicas=self._replicas,
                        description="Sigil render receipts",
                    )
                )
        except (JsError, TimeoutError) as err:
            raise UnavailableError("receipt store is unavailable") from err

    @property
    def kv(self) -> KeyValue:
        """The bucket, once set up."""
        return self._require_setup()

    def _require_setup(self) -> KeyValue:
        if self._kv is None:
            raise UnavailableError("receipt store is not set up")
        return self._kv

    async def get(self, org: str, deployment: str, revision: int) -> StoredReceipt | None:
        """The receipt of one revision, if it was rendered before."""
        self._require_setup()
        found = await self._direct_get(receipt_key(org, deployment, revision))
        if found is None:
            return None
        data, sequence = found
        return StoredReceipt(receipt=RenderReceipt.model_validate_json(data), revision=sequence)

    async def claim_owner(self, org: str, deployment: str, customer: str | None) -> str | None:
        """The customer organization the deployment belongs to (None: vendor-internal).

        Its first render records it with a create-only write; every later render gets the
        recorded scope back, whatever it asks for, so no render can move a deployment (and
        with it who reads its logs and which values mask them) to another scope. The record
        is never updated or deleted, so an owner once known is answered from memory.
        """
        if (org, deployment) in self._owners:
            return self._owners[(org, deployment)]
        owner = await self._claim_owner(org, deployment, customer)
        if len(self._owners) >= OWNERS_KNOWN:
            del self._owners[next(iter(self._owners))]  # oldest first
        self._owners[(org, deployment)] = owner
        return owner

    async def _claim_owner(self, org: str, deployment: str, customer: str | None) -> str | None:
        key = owner_key(org, deployment)
        for _ in range(2):
            found = await self._direct_get(key)
            if found is not None:
                return found[0].decode() or None
            if await self._create_only(key, (customer or "").encode()):
                return customer
            # Another render claimed it a moment earlier: read what it wrote.
        raise UnavailableError("the owner of this deployment keeps changing; try again")

    async def create(self, receipt: RenderReceipt, *, encoded: bytes | None = None) -> bool:
        """Store a new revision's receipt; False if another render stored it first."""
        self._require_setup()
        key = receipt_key(receipt.organization_id, receipt.deployment_id, receipt.revision)
        return await self._create_only(key, encoded or receipt.model_dump_json().encode())

    async def _direct_get(self, key: str) -> tuple[bytes, int] | None:
        """A key's value and store sequence, or None if it was never written (or removed).

        A direct get whose subject names the key (every render may ask): no JSON request to
        build and no stream-message wrapping to parse, unlike ``KeyValue.get``.
        """
        try:
            msg = await self._nc.request(f"{self._direct}{key}", b"", timeout=self._timeout)
        except (NatsError, TimeoutError) as err:
            raise UnavailableError("receipt store does not answer") from err
        headers = msg.headers or {}
        status = headers.get(_STATUS)
        if status == _NOT_FOUND or headers.get(_KV_OPERATION) in _REMOVED:
            return None
        if status is not None or _SEQUENCE not in headers:
            raise UnavailableError("receipt store does not answer")
        return msg.data or b"", int(headers[_SEQUENCE])

    async def _create_only(self, key: str, data: bytes) -> bool:
        """Store ``key`` only if it was never written (a KV create); False if it was.

        One publish and its PubAck read directly: every render writes one, so none of
        ``KeyValue.create``'s wrapping on the hot path.
        """
        try:
            ack = await self._nc.request(
                f"$KV.{self._bucket}.{key}", data, timeout=self._timeout, headers=_CREATE_ONLY
            )
        except (NatsError, TimeoutError) as err:
            raise UnavailableError("receipt store does not answer") from err
        return _created(ack.data)

    async def update(self, receipt: RenderReceipt, *, last: int) -> bool:
        """Replace a receipt (it grew) unless another render changed it since ``last``."""
        key = receipt_key(receipt.organization_id, receipt.deployment_id, receipt.revision)
        try:
            await self.kv.update(key, receipt.model_dump_json().encode(), last=last)
        except KeyWrongLastSequenceError:
            return False
        except (JsError, TimeoutError) as err:
            raise UnavailableError("receipt store does not answer") from err
        return True

    async def organization(self, org: str) -> list[RenderReceipt]:
        """Every receipt of one organization."""
        prefix = f"$KV.{self._bucket}."
        try:
            entries = await scan_last_per_subject(
                self._nc, self._js, kv_stream(self._bucket), f"{prefix}o.{org}.d.*.r.*"
            )
        except (JsError, TimeoutError) as err:
            raise UnavailableError("receipt store does not answer") from err
        return [RenderReceipt.model_validate_json(data) for _, _, data in entries if data]


def _created(ack: bytes) -> bool:
    """True for a PubAck, False for "wrong last sequence" (the key exists); anything else
    (no stream, another error, no JSON) is an unavailable store."""
    try:
        answer = json.loads(ack)
    except ValueError as err:
        raise UnavailableError("receipt store does not answer") from err
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(answer, dict) and error is None and "seq" in answer:
        return True
    if isinstance(error, dict) and error.get("err_code") == _WRONG_LAST_SEQUENCE:
        return False
    raise UnavailableError("receipt store does not answer")
