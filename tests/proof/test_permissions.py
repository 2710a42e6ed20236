"""Each NATS user tries the subjects it must not use: every attempt is refused by the server."""

import asyncio

import nats
import pytest

from sigil_shared import subjects
from sigil_shared.operations import RUNTIME_USERS
from tests.helpers import NatsFixture
from tests.proof.conftest import Record

pytestmark = pytest.mark.proof

# (user, action, subject): publishing (or requesting) / subscribing must be refused.
FORBIDDEN = [
    ("gateway", "publish", subjects.SECRET_RESOLVE),
    ("gateway", "publish", subjects.SECRET_REDACTION_VALUES),
    ("gateway", "publish", subjects.TEMPLATE_RENDER),
    ("gateway", "publish", subjects.logs_raw("o", "d")),
    ("gateway", "publish", "$KV.sigil-secrets.o.o.r.x"),
    ("gateway", "subscribe", subjects.AUDIT_ALL),
    ("renderer", "publish", subjects.SECRET_REDACTION_VALUES),
    ("renderer", "publish", subjects.SECRET_CREATE),
    ("renderer", "publish", "$KV.sigil-secrets.o.o.r.x"),
    ("renderer", "subscribe", subjects.LOGS_RAW_ALL),
    ("redactor", "publish", subjects.SECRET_RESOLVE),
    ("redactor", "publish", subjects.SECRET_CREATE),
    ("redactor", "publish", "$KV.sigil-secrets.o.o.r.x"),
    ("redactor", "publish", f"$JS.API.STREAM.DELETE.{subjects.AUDIT_STREAM}"),
    ("redactor", "subscribe", subjects.AUDIT_ALL),
    ("platform", "publish", subjects.SECRET_RESOLVE),
    ("platform", "publish", subjects.SECRET_REDACTION_VALUES),
    ("platform", "publish", subjects.SECRET_CREATE),
    ("platform", "publish", subjects.logs_redacted("o", "d")),
    ("platform", "publish", f"$JS.API.STREAM.PURGE.{subjects.AUDIT_STREAM}"),
    ("platform", "publish", "$KV.sigil-secrets.o.o.r.x"),
    ("platform", "subscribe", subjects.LOGS_RAW_ALL),
    ("secrets", "publish", subjects.TEMPLATE_RENDER),
    ("secrets", "publish", subjects.logs_redacted("o", "d")),
    ("secrets", "subscribe", subjects.LOGS_RAW_ALL),
    # Private inboxes (issue 11 B): nobody reads another user's replies.
    *[(user, "subscribe", "_INBOX.>") for user in RUNTIME_USERS],
    *[(user, "subscribe", ">") for user in RUNTIME_USERS],
    ("gateway", "subscribe", "_INBOX.renderer.>"),
    ("gateway", "subscribe", "_INBOX.redactor.>"),
    ("platform", "subscribe", "_INBOX.secrets.>"),
    # Least-privilege JetStream (issue 11 C): no runtime user manages the audit stream.
    *[
        (user, "publish", f"$JS.API.STREAM.{verb}.{subjects.AUDIT_STREAM}")
        for user in RUNTIME_USERS
        for verb in ("UPDATE", "DELETE", "PURGE", "MSG.DELETE")
    ],
]


async def _refused(nats_server: NatsFixture, user: str, action: str, subject: str) -> bool:
    errors: list[Exception] = []

    async def on_error(err: Exception) -> None:
        errors.append(err)

    nc = await nats.connect(
        nats_server.url,
        user=user,
        password=nats_server.data.passwords()[user],
        error_cb=on_error,
        inbox_prefix=subjects.inbox_prefix(user),
    )
    try:
        if action == "publish":
            await nc.publish(subject, b"{}")
        else:
            await nc.subscribe(subject)
        await nc.flush()
        await asyncio.sleep(0.05)
    finally:
        await nc.close()
    return any("permissions violation" in str(e).lower() for e in errors)


async def test_every_forbidden_attempt_is_refused(
    nats_server: NatsFixture, record_figure: Record
) -> None:
    allowed = [
        f"{user} {action} {subject}"
        for user, action, subject in FORBIDDEN
        if not await _refused(nats_server, user, action, subject)
    ]
    record_figure("NATS permissions", "forbidden attempts", len(FORBIDDEN))
    record_figure("NATS permissions", "attempts allowed", len(allowed))
    assert not allowed, allowed
