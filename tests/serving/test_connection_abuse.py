"""A client that never finishes its body, or sends its headers in one large write, cannot
hold a connection or pass the header limit: the protocol's limits against a real uvicorn
server on 127.0.0.1 serving a tiny app (answers that read the body and answers that do not)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from lakehouse_ml.serving.limits import Limits
from lakehouse_ml.serving.server import uvicorn_config

BODY_SECONDS = 2.0
MAX_HEADER_BYTES = 4096
LIMITS = Limits(body_seconds=BODY_SECONDS, header_seconds=2.0,
                max_header_bytes=MAX_HEADER_BYTES, max_connections=16)
INVOCATIONS = "/serving-endpoints/churn_clf/invocations"


async def tiny_app(scope: dict, receive, send) -> None:  # noqa: ANN001
    """/echo reads the whole body; /health answers 200 and POSTs elsewhere 401, unread; a
    websocket is refused (403)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close"})
        return
    status, body = (401, b'{"error_code":"UNAUTHENTICATED"}')
    if scope["path"] == "/echo":
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size, more = size + len(message.get("body", b"")), message.get("more_body", False)
        status, body = 200, str(size).encode()
    elif scope["path"] == "/health":
        status, body = 200, b'{"status":"ok"}'
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def threaded_server(app: Callable[..., Awaitable[None]], limits: Limits) -> Iterator[int]:
    """`app` behind the project's uvicorn settings on 127.0.0.1, in a thread: its port."""
    config = uvicorn_config(app, limits, "127.0.0.1", 0)
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with threaded_server(tiny_app, LIMITS) as bound:
        yield bound


def trickle(port: int, head: bytes, seconds: float) -> tuple[bytes, float]:
    """Sends `head`, then one body byte every 0.3 s; what came back and when the server
    closed the connection (`seconds` if it did not)."""
    began = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        sock.settimeout(0.3)
        while time.monotonic() - began < seconds:
            try:
                sock.sendall(b"x")
                part = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset: closed
                return answer, time.monotonic() - began
            if not part:
                return answer, time.monotonic() - began
            answer += part
    return answer, seconds


SLOW_BODIES = {
    "health": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
    "unauthenticated": (f"POST {INVOCATIONS} HTTP/1.1\r\nHost: x\r\n"
                        "Content-Length: 1000000\r\n\r\n").encode(),
    "read by the app": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
    "chunked, unread": (b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"100000\r\n"),
}


@pytest.mark.parametrize("head", SLOW_BODIES.values(), ids=SLOW_BODIES.keys())
def test_a_trickled_body_is_closed_within_body_seconds(port: int, head: bytes) -> None:
    answer, closed_after = trickle(port, head, seconds=BODY_SECONDS + 4)

    assert closed_after < BODY_SECONDS + 1.5, f"still open after {closed_after:.1f} s: {answer!r}"
    assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.1 401", b"HTTP/1.1 408")), answer


def test_an_answer_sent_before_the_body_is_read_closes_the_connection(port: int) -> None:
    answer, closed_after = trickle(port, SLOW_BODIES["unauthenticated"], seconds=3)

    assert answer.startswith(b"HTTP/1.1 401"), answer
    assert b"connection: close" in answer.lower()
    assert closed_after < 1, "closed at once, not after the body deadline"


def test_a_body_that_stops_coming_gets_408_when_the_app_reads_it(port: int) -> None:
    answer, closed_after = trickle(port, SLOW_BODIES["read by the app"], seconds=6)

    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"body not received within 2 s" in answer
    assert BODY_SECONDS - 0.5 < closed_after < BODY_SECONDS + 1.5


def test_a_prompt_body_is_still_read_and_the_connection_kept(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for _ in range(2):  # kept alive: a second request on the same connection
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"\r\n\r\n5"), answer


def one_write_get(total: int) -> bytes:
    """`GET /health` with headers of exactly `total` bytes (request line included)."""
    bare = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n"
    return bare.replace(b"X-Pad: ", b"X-Pad: " + b"a" * (total - len(bare)))


@pytest.mark.parametrize(("total", "status"), [
    (MAX_HEADER_BYTES, b"200"), (MAX_HEADER_BYTES + 1, b"431"), (5 * 1024, b"431"),
    (30 * 1024, b"431"), (60 * 1024, b"431")])
def test_headers_sent_in_one_write_are_held_to_the_limit(
    port: int, total: int, status: bytes
) -> None:
    request = one_write_get(total)
    assert len(request) == total
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]


def test_an_upgrade_request_is_answered_as_plain_http(port: int) -> None:
    """Websockets are off: a request asking for an upgrade reaches the app as plain HTTP under
    the limits (an upgraded connection would leave the limits' protocol)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert b'{"status":"ok"}' in answer
