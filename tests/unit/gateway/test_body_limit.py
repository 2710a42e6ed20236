"""The body limit as ASGI: declared lengths, absurd lengths and chunked bodies."""

from starlette.types import Message, Receive, Scope, Send

from sigil_gateway.middleware import BodyLimitMiddleware


class EchoLength:
    """An ASGI app that reads the whole body and answers its length."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def _call(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> list[Message]:
    scope: Scope = {"type": "http", "method": "POST", "headers": headers}
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await BodyLimitMiddleware(EchoLength(), limit=2048)(scope, receive, send)
    return sent


async def test_an_absurd_declared_length_is_413_not_a_python_error() -> None:
    sent = await _call([(b"content-length", b"9" * 5000)], [b"{}"])
    assert sent[0]["status"] == 413


async def test_a_declared_length_over_the_limit_is_413() -> None:
    sent = await _call([(b"content-length", b"2049")], [b"x" * 2049])
    assert sent[0]["status"] == 413


async def test_a_chunked_body_is_read_whole_up_to_the_limit() -> None:
    ok = await _call([], [b"x" * 1000, b"y" * 1000, b"z" * 48])
    assert ok[0]["status"] == 200
    assert ok[1]["body"] == b"2048"
    over = await _call([], [b"x" * 1000, b"y" * 1000, b"z" * 49])
    assert over[0]["status"] == 413
