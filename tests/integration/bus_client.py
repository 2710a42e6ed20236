"""A typed bus client for tests: sends commands as a given NATS user and actor."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import uuid4

from faststream.nats import NatsBroker
from pydantic import BaseModel

from sigil_shared import subjects
from sigil_shared.bus import create_broker, request
from sigil_shared.contracts import (
    Actor,
    AuditQueryReply,
    AuditQueryRequest,
    Role,
    SecretCreateRequest,
    SecretDeleteReply,
    SecretDeleteRequest,
    SecretDetail,
    SecretGetRequest,
    SecretListReply,
    SecretListRequest,
    SecretMetadata,
    SecretUpdateReply,
    SecretUpdateRequest,
    TemplateRenderReply,
    TemplateRenderRequest,
)
from sigil_shared.operations import TEMPLATE_RENDER, command_for
from sigil_shared.settings import BusSettings
from tests.helpers import NatsFixture

ModelT = TypeVar("ModelT", bound=BaseModel)


async def render_env(
    platform: NatsBroker, org: str, deployment: str, revision: int, env: str
) -> TemplateRenderReply:
    """Render an env file as the platform (a new revision, or a re-render of one)."""
    return await request(
        platform,
        TEMPLATE_RENDER,
        TemplateRenderRequest(
            organization_id=org, deployment_id=deployment, revision=revision, env_file=env
        ),
        timeout=20,
    )


def actor(org: str, role: str = "admin", customer: str | None = None, user: str = "u1") -> Actor:
    """An actor of ``org`` (a customer user when ``customer`` is given)."""
    return Actor(
        user_id=user, organization_id=org, customer_organization_id=customer, role=Role(role)
    )


class SecretsClient:
    """Sends secrets commands over the real bus."""

    def __init__(self, broker: NatsBroker) -> None:
        self.broker = broker

    async def call(self, subject: str, message: BaseModel, reply: type[ModelT]) -> ModelT:
        """One request/reply, raising the remote SigilError."""
        op = command_for(subject)
        assert op is not None, f"undeclared command {subject}"
        assert op.reply is reply
        result: ModelT = await request(self.broker, op, message, timeout=10)
        return result

    async def create(
        self, who: Actor, key: str, value: str, customer: str | None = None
    ) -> SecretMetadata:
        return await self.call(
            subjects.SECRET_CREATE,
            SecretCreateRequest(
                actor=who,
                request_id=uuid4().hex,
                key=key,
                value=value,
                customer_organization_id=customer,
            ),
            SecretMetadata,
        )

    async def update(
        self, who: Actor, secret_id: str, value: str, expected: int | None = None
    ) -> SecretUpdateReply:
        return await self.call(
            subjects.SECRET_UPDATE,
            SecretUpdateRequest(
                actor=who,
                request_id=uuid4().hex,
                id=secret_id,
                value=value,
                expected_version=expected,
            ),
            SecretUpdateReply,
        )

    async def delete(self, who: Actor, secret_id: str, *, force: bool = False) -> SecretDeleteReply:
        return await self.call(
            subjects.SECRET_DELETE,
            SecretDeleteRequest(actor=who, request_id=uuid4().hex, id=secret_id, force=force),
            SecretDeleteReply,
        )

    async def get(self, who: Actor, secret_id: str) -> SecretDetail:
        return await self.call(
            subjects.SECRET_GET,
            SecretGetRequest(actor=who, request_id=uuid4().hex, id=secret_id),
            SecretDetail,
        )

    async def list(self, who: Actor, **kwargs: Any) -> SecretListReply:
        return await self.call(
            subjects.SECRET_LIST,
            SecretListRequest(actor=who, request_id=uuid4().hex, **kwargs),
            SecretListReply,
        )

    async def audit(self, who: Actor, **kwargs: Any) -> AuditQueryReply:
        return await self.call(
            subjects.AUDIT_QUERY,
            AuditQueryRequest(actor=who, request_id=uuid4().hex, **kwargs),
            AuditQueryReply,
        )


@asynccontextmanager
async def bus_as(nats: NatsFixture, user: str) -> AsyncIterator[NatsBroker]:
    """A connected FastStream broker as one generated NATS user."""
    broker = create_broker(BusSettings(**nats.creds(user)), service=f"test-{user}")
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.stop()
