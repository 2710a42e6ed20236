"""A stand-in secrets service for the gateway benchmark: canned replies, raw nats-py.

    python -m bench.canned_secrets NATS_URL

Answers ``sigil.secrets.secret.list`` with a page of 100 and ``...secret.create`` with one
metadata record, at a few microseconds each, so the gateway's own cost per request can be
measured without the secrets service's in the way. Prints ``ready`` once subscribed.
"""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import nats
from nats.aio.msg import Msg

from sigil_shared import operations as ops
from sigil_shared.contracts import Reply, SecretListReply, SecretMetadata


async def serve(url: str) -> None:
    """Answer list and create until killed."""
    connection = await nats.connect(url)
    now = datetime.now(UTC)
    items = [
        SecretMetadata(
            id=f"{n:032x}",
            key=f"KEY_{n:04d}",
            customer_organization_id=None,
            version=1,
            created_at=now,
            created_by="bench",
            updated_at=now,
            updated_by="bench",
        )
        for n in range(100)
    ]
    page = Reply.success(SecretListReply(items=items, next_cursor=None)).model_dump_json()
    created = Reply.success(items[0]).model_dump_json()

    def responder(body: bytes) -> Callable[[Msg], Awaitable[None]]:
        async def respond(msg: Msg) -> None:
            await msg.respond(body)

        return respond

    await connection.subscribe(ops.SECRET_LIST.subject, cb=responder(page.encode()))
    await connection.subscribe(ops.SECRET_CREATE.subject, cb=responder(created.encode()))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
