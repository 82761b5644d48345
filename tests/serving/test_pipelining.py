"""Read deadlines run only while the server reads: a request pipelined behind a slow one is
timed from its turn, so a client that sent everything in time never gets 408; and a body that
does time out is recorded in the inference log as the 408 the client got."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.limits import Limits
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import INVOCATIONS, config, running
from tests.serving.test_connection_abuse import threaded_server, tiny_app

SECONDS = 1.0
LIMITS = Limits(body_seconds=SECONDS, header_seconds=SECONDS, max_connections=16)
SLOW = SECONDS * 2.5
"""How long /slow takes to answer: longer than either deadline."""


async def app(scope: dict, receive, send) -> None:  # noqa: ANN001
    """/slow reads its body, then answers 200 after `SLOW` seconds; the rest as `tiny_app`."""
    if scope["type"] == "http" and scope["path"] == "/slow":
        while (await receive()).get("more_body"):
            pass
        await asyncio.sleep(SLOW)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"4")]})
        await send({"type": "http.response.body", "body": b"slow"})
        return
    await tiny_app(scope, receive, send)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with threaded_server(app, LIMITS) as bound:
        yield bound


def _exchange(port: int, *writes: bytes) -> bytes:
    """Sends the writes 0.2 s apart, then reads until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=SLOW * 4) as sock:
        for index, data in enumerate(writes):
            if index:
                time.sleep(0.2)
            sock.sendall(data)
        answer = b""
        while part := sock.recv(65536):
            answer += part
    return answer


SLOW_HEAD = b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
ECHO_HEAD = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
LAST = b"Connection: close\r\n"


def test_a_pipelined_body_sent_in_time_is_read_when_its_turn_comes(port: int) -> None:
    """The second request's body arrives while the first is being answered (the server does
    not read meanwhile): both are answered, no 408."""
    answer = _exchange(port, SLOW_HEAD, b"hello" + ECHO_HEAD + LAST + b"\r\n", b"hello")

    assert answer.count(b"HTTP/1.1 200") == 2, answer
    assert answer.endswith(b"\r\n\r\n5") and b"408" not in answer


def test_pipelined_headers_sent_in_time_are_read_when_their_turn_comes(port: int) -> None:
    """A third request's headers, half sent before the server stopped reading, are timed from
    its turn, not from their first byte."""
    answer = _exchange(port, SLOW_HEAD, b"hello" + ECHO_HEAD + b"\r\nhello" + ECHO_HEAD,
                       LAST + b"\r\nhello")

    assert answer.count(b"HTTP/1.1 200") == 3, answer
    assert b"408" not in answer


def test_a_body_that_times_out_is_logged_as_the_408_the_client_got(
    lakehouse: Settings, lakehouse_catalog: Catalog
) -> None:
    token = TokenStore(lakehouse_catalog).create("pipelining-408")
    began = datetime.now(UTC)
    with running(config(lakehouse, limits=LIMITS)) as client:
        port = int(str(client.base_url).rsplit(":", 1)[1].rstrip("/"))
        head = (f"POST {INVOCATIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n").encode()
        answer = _exchange(port, head + b'{"inputs": ')
    assert answer.startswith(b"HTTP/1.1 408"), answer  # the log is written at shutdown

    rows = lakehouse_catalog.read("churn.inference_log").filter(
        (pl.col("caller") == "pipelining-408") & (pl.col("requested_at") >= began))
    assert rows["status_code"].to_list() == [408], rows
    assert f"body not received within {SECONDS:g} s" in rows["response"][0]
