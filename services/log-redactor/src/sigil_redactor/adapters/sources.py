"""Where a deployment's values come from: its render receipts and the secrets service."""

from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from sigil_shared import operations as ops
from sigil_shared import subjects
from sigil_shared.bus import request
from sigil_shared.contracts import (
    PinnedVersion,
    RedactionValuesRequest,
    RenderReceipt,
)
from sigil_shared.errors import ConflictError, UnavailableError
from sigil_shared.jetstream import scan_rows


class KvReceiptReader:
    """Reads (never writes) the renderer's receipts bucket."""

    def __init__(self, nc: NatsClient) -> None:
        self._nc = nc
        self._js = nc.jetstream()

    async def receipts(self, org: str, deployment: str) -> list[RenderReceipt]:
        """Every receipt of one deployment, oldest revision first."""
        bucket = subjects.RECEIPTS_BUCKET
        found: list[RenderReceipt] = []

        def on_row(seq: int, msg: Msg) -> bool:
            del seq
            if msg.data:
                found.append(RenderReceipt.model_validate_json(msg.data))
            return True

        try:
            await scan_rows(
                self._nc,
                self._js,
                subjects.kv_stream(bucket),
                f"$KV.{bucket}.o.{org}.d.{deployment}.r.*",
                on_row=on_row,
                last_per_subject=True,
            )
        except NotFoundError:
            return []  # no deployment was rendered yet
        except (JsError, TimeoutError) as err:
            raise UnavailableError("render receipts are unavailable") from err
        return sorted(found, key=lambda r: r.revision)


#: Pages of values one matcher may take (each up to a bus message: ~4 GiB at 4 MiB).
MAX_VALUE_PAGES = 1024
#: Times the whole set is read when it keeps changing between pages.
SET_ATTEMPTS = 3


class BusValuesSource:
    """Asks ``sigil.secrets.internal.redaction_values`` (only the redactor's user may)."""

    def __init__(self, broker: NatsBroker, *, timeout: float) -> None:
        self._broker = broker
        self._timeout = timeout

    async def values(
        self,
        org: str,
        customer: str | None,
        pinned: list[PinnedVersion],
        *,
        all_customers: bool,
    ) -> list[str]:
        """Current values of the scope (or of the whole organization), recently replaced
        ones and every pinned version: page after page, as many as the service sends; the
        whole set again if it changed between pages."""
        for _ in range(SET_ATTEMPTS):
            values: list[str] = []
            start, snapshot = 0, None
            try:
                for _ in range(MAX_VALUE_PAGES):
                    reply = await request(
                        self._broker,
                        ops.SECRET_REDACTION_VALUES,
                        RedactionValuesRequest(
                            organization_id=org,
                            customer_organization_id=customer,
                            all_customers=all_customers,
                            pinned=pinned,
                            start=start,
                            snapshot=snapshot,
                        ),
                        timeout=self._timeout,
                    )
                    values += [v.get_secret_value() for v in reply.values]
                    if reply.next_start is None:
                        return values
                    if reply.next_start <= start:
                        break  # pages must move on; a service that does not is not trusted
                    start, snapshot = reply.next_start, reply.snapshot
                break
            except ConflictError:
                continue  # the set changed between pages: read it again
        # Fail closed: the caller holds the records rather than mask with part of the set.
        raise UnavailableError("the values to mask did not arrive in full")
