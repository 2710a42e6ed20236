"""The FastStream/NATS plumbing: broker factory, error replies, typed requests, health."""

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from faststream.middlewares import BaseMiddleware, ExceptionMiddleware
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.security import SASLPlaintext
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from opentelemetry import metrics
from pydantic import BaseModel, ValidationError

from sigil_shared import operations, subjects
from sigil_shared.contracts import ErrorBody, HealthReply, HealthRequest, Reply
from sigil_shared.contracts.health import check_ready
from sigil_shared.errors import (
    ErrorCode,
    InvalidMessageError,
    InvalidRequestError,
    SigilError,
    UnavailableError,
    error_from_code,
)
from sigil_shared.operations import Command, Event
from sigil_shared.settings import BusSettings
from sigil_shared.subjects import ServiceName
from sigil_shared.telemetry import tracing_enabled

log = logging.getLogger("sigil.bus")

RequestT = TypeVar("RequestT", bound=BaseModel)
ReplyT = TypeVar("ReplyT", bound=BaseModel)
T = TypeVar("T")
HealthCheck = Callable[[], Awaitable[dict[str, str]]]
#: What FastStream's own request sends; a FastStream subscriber decodes the body by it.
_JSON = {"content-type": "application/json"}


def _validation_details(err: ValidationError, root: tuple[str, ...] = ()) -> dict[str, Any]:
    """Field locations and messages of a validation error, never the input."""
    return {
        "errors": [
            {
                "field": ".".join(str(p) for p in (*root, *item["loc"])),
                "type": item["type"],
                "message": item["msg"],
            }
            for item in err.errors(include_input=False, include_url=False, include_context=False)
        ]
    }


def invalid_message(err: ValidationError, *, root: tuple[str, ...] = ()) -> InvalidMessageError:
    """The typed error for a message that does not match its contract (``root`` prefixes
    each field's location)."""
    return InvalidMessageError(
        "message does not match the contract", details=_validation_details(err, root)
    )


def error_middleware() -> ExceptionMiddleware:
    """Turn every handler failure into an error reply: never silence, never a stack trace."""
    mw = ExceptionMiddleware()

    @mw.add_handler(ValidationError, publish=True)
    async def _on_invalid(exc: ValidationError) -> Reply[None]:
        return Reply.failure(ErrorBody.from_error(invalid_message(exc)))

    @mw.add_handler(SigilError, publish=True)
    async def _on_sigil(exc: SigilError) -> Reply[None]:
        return Reply.failure(ErrorBody.from_error(exc))

    @mw.add_handler(Exception, publish=True)
    async def _on_other(exc: Exception) -> Reply[None]:
        # Only the type: an arbitrary exception's text may quote its input.
        log.error("unexpected handler failure: %s", type(exc).__name__)
        return Reply.failure(
            ErrorBody(code=ErrorCode.INTERNAL, message="internal error", details={})
        )

    return mw


class CommandMetricsMiddleware(BaseMiddleware):
    """Counts every command by subject and outcome, and records its duration.

    Sits outside the error middleware, so it sees the reply envelope (``ok`` or the error
    code) rather than exceptions. Labels are subjects and codes — never content.
    """

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        start = time.perf_counter()
        result = await call_next(msg)
        subject = getattr(msg.raw_message, "subject", "unknown")
        if isinstance(result, Reply):
            outcome = "ok" if result.ok else (result.error.code if result.error else "error")
            commands, duration = _command_instruments()
            commands.add(1, {"subject": _command_label(subject), "outcome": outcome})
            duration.record(time.perf_counter() - start, {"subject": _command_label(subject)})
        return result


@functools.cache
def _command_instruments() -> tuple[metrics.Counter, metrics.Histogram]:
    """Created once per process: FastStream builds the middleware per message, and without
    a meter provider each ``create_*`` call appends a proxy instrument to a list forever."""
    meter = metrics.get_meter("sigil.bus")
    return (
        meter.create_counter("sigil.commands", unit="{command}"),
        meter.create_histogram("sigil.command.duration", unit="s"),
    )


def _command_label(subject: str) -> str:
    """Command subjects carry no ids; health subjects name a service. Both are safe labels."""
    return subject if subject.count(".") <= 4 else "other"


def create_broker(settings: BusSettings, *, service: str) -> NatsBroker:
    """A NatsBroker for one service with its credentials, telemetry and error replies.

    Replies come to the user's private inbox prefix (``_INBOX.<user>``), the only inbox
    its NATS permissions let it subscribe to; JetStream API replies and pull consumers use
    the same prefix. The error middleware is innermost so telemetry never records a
    validation error's text (which would quote the input).
    """
    security = None
    inbox_prefix = "_INBOX"
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        security = SASLPlaintext(username=settings.nats_user, password=password)
        inbox_prefix = subjects.inbox_prefix(settings.nats_user)
    logger = logging.getLogger(f"sigil.{service}.bus")
    middlewares: list[Any] = [CommandMetricsMiddleware, error_middleware()]
    if tracing_enabled():
        middlewares.insert(0, NatsTelemetryMiddleware())
    return NatsBroker(
        settings.nats_servers,
        security=security,
        name=f"sigil-{service}",
        middlewares=middlewares,
        logger=logger,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        inbox_prefix=inbox_prefix,
    )


async def send(
    broker: NatsBroker, op: Command[Any, Any], payload: bytes, *, timeout: float
) -> bytes:
    """Send a declared command's JSON and return the raw reply envelope, or raise
    ``unavailable``.

    With tracing, FastStream's request carries the span context in the headers; without,
    the NATS client's own request on the same connection and private inbox skips
    FastStream's publish command and message wrapping on the hot path.
    """
    subject = op.subject
    try:
        if tracing_enabled():
            traced = await broker.request(payload, subject, headers=_JSON, timeout=timeout)
            body: bytes = traced.body
        else:
            msg = await broker.connection.request(subject, payload, timeout=timeout, headers=_JSON)
            body = msg.data
    except (TimeoutError, NatsTimeoutError) as err:
        raise UnavailableError(f"no reply on {subject} within {timeout:g}s") from err
    except NoRespondersError as err:
        raise UnavailableError(f"no service answers on {subject}") from err
    except NatsError as err:
        # Closed, reconnecting or draining connection, or the like: the bus is unavailable.
        raise UnavailableError(f"the bus is unavailable for {subject}") from err
    return body


async def request(
    broker: NatsBroker,
    op: Command[RequestT, ReplyT],
    message: RequestT,
    *,
    timeout: float,
) -> ReplyT:
    """The typed client: send a declared command, return its result or raise its error."""
    body = await send(broker, op, message.model_dump_json().encode(), timeout=timeout)
    reply = Reply[op.reply].model_validate_json(body)  # type: ignore[name-defined]
    if reply.error is not None:
        raise error_from_code(reply.error.code, reply.error.message, reply.error.details)
    if reply.data is None:
        raise UnavailableError(f"empty reply on {op.subject}")
    data: ReplyT = reply.data
    return data


class Deferred(Generic[T]):
    """An object built at start-up (it needs the connection), for handlers registered
    before it exists: they receive it by closure, never through FastStream's context."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._value: T | None = None

    def set(self, value: T) -> None:
        """Hand over the built object."""
        self._value = value

    def get(self) -> T:
        """The object, or ``unavailable`` while the service is still starting."""
        if self._value is None:
            raise UnavailableError(f"{self._what} is starting")
        return self._value

    @property
    def ready(self) -> bool:
        """True once built."""
        return self._value is not None


def serve(
    broker: NatsBroker,
    op: Command[RequestT, ReplyT],
    handler: Callable[[RequestT], Awaitable[ReplyT]],
    *,
    max_workers: int = 1,
) -> None:
    """Answer a declared command in its owner's queue group with ``handler``.

    The subscriber's only parameter is the request contract: no ``Context()`` or
    ``Depends`` parameter, which FastStream would resolve through a thread pool per message.
    ``max_workers`` > 1 handles that many messages at once (a handler that awaits the bus
    would otherwise serve one request per round trip).

    The FastStream subscriber (:func:`declare`) is always the declaration (AsyncAPI, start
    and stop with the broker). Without tracing it answers through :class:`DirectReplies`
    instead of FastStream's per-message chain, which cost several times the handler
    itself; with tracing, FastStream's telemetry middleware is what carries the trace
    across the hop, so the chain stays.
    """
    subscriber = declare(broker, op, handler, max_workers=max_workers)
    if not tracing_enabled():
        DirectReplies(op, handler, max_workers=max_workers).attach(subscriber)


def declare(
    broker: NatsBroker,
    op: Command[RequestT, ReplyT],
    handler: Callable[[RequestT], Awaitable[ReplyT]],
    *,
    max_workers: int = 1,
) -> Any:
    """The FastStream subscriber of a command, answering through FastStream's chain."""

    async def answer(request: Any) -> Reply[Any]:
        reply: Reply[Any] = Reply.success(await handler(request))
        # FastStream would fail to send a reply over the connection's max_payload and the
        # caller would only time out: answer a small typed error instead.
        size, limit = len(reply.model_dump_json()) + _HEADER_ROOM, broker.connection.max_payload
        if size > limit:
            log.warning("reply on %s too large: %d bytes", op.subject, size)
            raise _too_large(size, limit)
        return reply

    answer.__annotations__ = {"request": op.request, "return": Reply[op.reply]}  # type: ignore[name-defined]
    answer.__name__ = answer.__qualname__ = op.subject.replace(".", "_")
    options: dict[str, Any] = {"max_workers": max_workers} if max_workers > 1 else {}
    subscriber = broker.subscriber(
        op.subject, queue=op.queue, title=op.subject, description=op.description, **options
    )
    subscriber(answer)
    return subscriber


class DirectReplies(Generic[RequestT, ReplyT]):
    """One command answered from a plain nats-py subscription callback.

    Does what the FastStream path does for a command, per message: the request validated
    against its contract, the handler awaited, the reply envelope sent, every failure a
    typed error reply (never the input, never a stack trace), and the command metrics —
    without building a middleware stack, a context scope and a dependency model per
    message. At most ``max_workers`` messages are handled at once; the subscription's
    pending queue (nats-py's limits) holds the rest.
    """

    def __init__(
        self,
        op: Command[RequestT, ReplyT],
        handler: Callable[[RequestT], Awaitable[ReplyT]],
        *,
        max_workers: int,
    ) -> None:
        self._op = op
        self._handler = handler
        # Serialized as the declared reply type (not the runtime one), as FastStream does.
        self._reply: type[Reply[Any]] = Reply[op.reply]  # type: ignore[name-defined]
        self._label = _command_label(op.subject)
        self._slots = asyncio.Semaphore(max_workers) if max_workers > 1 else None
        self._tasks: set[asyncio.Task[None]] = set()
        self._nc: NatsClient | None = None

    def attach(self, subscriber: Any) -> None:
        """Answer in place of ``subscriber``'s chain, from its own start on."""
        # The subscription is the one place FastStream's chain meets the connection;
        # creating ours there keeps start, stop and reconnects FastStream's.
        subscriber._create_subscription = functools.partial(self.subscribe, subscriber)

    async def subscribe(self, subscriber: Any) -> None:
        """Subscribe for ``subscriber`` (FastStream unsubscribes it on stop)."""
        if subscriber.subscription:
            return
        self._nc = subscriber.connection
        subscriber.subscription = await subscriber.connection.subscribe(
            self._op.subject, queue=self._op.queue, cb=self.on_message
        )

    async def on_message(self, msg: Msg) -> None:
        """nats-py calls this for one message at a time; concurrent handling is ours."""
        if self._slots is None:
            await self.handle(msg)
            return
        await self._slots.acquire()
        task = asyncio.ensure_future(self._handle_in_slot(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_in_slot(self, msg: Msg) -> None:
        assert self._slots is not None
        try:
            await self.handle(msg)
        finally:
            self._slots.release()

    async def handle(self, msg: Msg) -> None:
        """Answer one request; nothing escapes (a broken reply inbox is only logged)."""
        start = time.perf_counter()
        try:
            request = self._op.request.model_validate_json(msg.data)
            result = await self._handler(request)
            body = self._reply(ok=True, data=result).model_dump_json().encode()
            outcome = "ok"
        except ValidationError as exc:
            # Located under the handler's parameter, as FastStream's path reports them.
            body, outcome = _failure(ErrorBody.from_error(invalid_message(exc, root=_ROOT)))
        except SigilError as exc:
            body, outcome = _failure(ErrorBody.from_error(exc))
        except Exception as exc:  # noqa: BLE001 - the process boundary of one message
            # Only the type: an arbitrary exception's text may quote its input.
            log.error("unexpected handler failure: %s", type(exc).__name__)
            body, outcome = _failure(
                ErrorBody(code=ErrorCode.INTERNAL, message="internal error", details={})
            )
        if self._nc is not None and len(body) > self._nc.max_payload:
            # nats-py would refuse to send it (MaxPayloadError) and the caller would only
            # time out: a small typed error instead, naming sizes, never content.
            log.warning("reply on %s too large: %d bytes", self._label, len(body))
            too_large = _too_large(len(body), self._nc.max_payload)
            body, outcome = _failure(ErrorBody.from_error(too_large))
        commands, duration = _command_instruments()
        commands.add(1, {"subject": self._label, "outcome": outcome})
        duration.record(time.perf_counter() - start, {"subject": self._label})
        if not msg.reply or self._nc is None:
            return
        try:
            # Not msg.respond: that would send the request's headers back with the reply.
            await self._nc.publish(msg.reply, body)
        except NatsError as exc:
            log.warning("reply on %s not sent: %s", self._label, type(exc).__name__)


#: The name ``serve`` gives the request parameter (FastStream prefixes locations with it).
_ROOT = ("request",)


#: Room left for the headers FastStream sends with a reply (trace context, correlation id).
_HEADER_ROOM = 2 * 1024


def _too_large(size: int, max_payload: int) -> InvalidRequestError:
    """The error answered in place of a reply of ``size`` bytes the bus cannot carry."""
    return InvalidRequestError(
        f"the answer is too large to send: {size} bytes, the bus carries at most "
        f"{max_payload} per message; ask for less"
    )


def _failure(error: ErrorBody) -> tuple[bytes, str]:
    return Reply[None].failure(error).model_dump_json().encode(), error.code


def listen(broker: NatsBroker, event: Event, handler: Callable[[Any], Awaitable[None]]) -> None:
    """Receive a declared core event on every replica (no queue group, no reply)."""

    async def receive(message: Any) -> None:
        await handler(message)

    receive.__annotations__ = {"message": event.message, "return": None}
    receive.__name__ = receive.__qualname__ = event.pattern.replace(".", "_").replace(">", "all")
    broker.subscriber(
        event.pattern, no_reply=True, title=event.pattern, description=event.description
    )(receive)


def register_health(broker: NatsBroker, service: ServiceName, check: HealthCheck) -> None:
    """Answer ``sigil.health.<service>`` with the service's readiness."""

    async def health(request: HealthRequest) -> HealthReply:
        del request
        checks = await check()
        ready = all(check_ready(v) for v in checks.values())
        return HealthReply(service=service, ready=ready, checks=checks)

    serve(broker, operations.health(service), health)


def document_events(broker: NatsBroker, service: str) -> None:
    """Declare the events a service publishes, so AsyncAPI shows them (from the declarations)."""
    for event in operations.EVENTS:
        if service in event.publishers:
            broker.publisher(
                event.address,
                schema=event.message,
                title=event.address,
                description=event.description,
            )


async def bus_check(broker: NatsBroker) -> dict[str, str]:
    """The health entry for the NATS connection itself."""
    try:
        connected = bool(broker.connection.is_connected)
    except Exception:  # noqa: BLE001 - FastStream raises when never connected
        connected = False
    return {"nats": "ok" if connected else "disconnected"}


__all__ = [
    "Deferred",
    "DirectReplies",
    "HealthCheck",
    "bus_check",
    "create_broker",
    "declare",
    "document_events",
    "error_middleware",
    "invalid_message",
    "listen",
    "register_health",
    "request",
    "serve",
]
