"""uvicorn's httptools protocol with the limits it lacks: header read time and size, and
connections.

uvicorn closes a kept-alive connection that stays idle, but waits forever for a client that
connects and never finishes its headers (a slow client holds a connection and its memory
indefinitely), and httptools does not bound the header size. Here a connection that has not
sent its request line and headers `header_seconds` after connecting (or after the first byte
of its next request) gets 408, headers above `max_header_bytes` get 431 (counted as they
arrive and, once parsed, as request line plus headers), and a connection beyond
`max_connections` gets 503; each answer closes the connection.

A body has `body_seconds` from the moment its request is taken up (the end of its headers, or,
for a request pipelined behind others, the moment the one before it is answered: until then the
server does not read it), whether or not the app reads it (answers such as 401 or /health do
not): then 408 and the connection is closed; the request's scope gets `REFUSED` (status,
message), so the app records what the client was answered. Likewise a pipelined request's
headers are timed only from the moment its turn comes. A response sent while the request's
body is still unread carries `connection: close` and closes the connection, so an unread body
never holds it. The body's size is the app's to check (`app.py`), where the endpoint is known.
A request the HTTP parser cannot read gets 400 in the same JSON shape as every other answer.
"""

from __future__ import annotations

import asyncio
import json
import logging

from uvicorn._types import ASGI3Application, ASGISendEvent
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from lakehouse_ml.serving.config import Limits

log = logging.getLogger(__name__)

_CODES = {400: "BAD_REQUEST", 408: "REQUEST_TIMEOUT", 431: "REQUEST_HEADER_FIELDS_TOO_LARGE",
          503: "TEMPORARILY_UNAVAILABLE"}
REFUSED = "lakehouse_ml.refused"
"""Scope key: (status, message) of the answer the protocol sent in the app's place."""


def _answer(status: int, message: str) -> bytes:
    body = json.dumps({"error_code": _CODES[status], "message": message}).encode()
    return STATUS_LINE[status] + (
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n").encode() + body


class LimitedProtocol(HttpToolsProtocol):
    """Set `limits` on a subclass (`limited_protocol`): uvicorn builds protocols itself."""

    limits: Limits

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0
        self._in_headers = False
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, f"more than {self.limits.max_connections} open connections; "
                              "retry later")
            return
        self._arm()

    def _arm(self) -> None:
        """Time the headers, unless a request waits for its turn (the server is not reading)."""
        if self._header_timer is None and not self.pipeline:
            self._header_timer = self.loop.call_later(self.limits.header_seconds,
                                                      self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` unless a response is being written, then close; the request whose
        response has not started (if any) sees a disconnect."""
        self._disarm()
        self._disarm_body()
        if self.transport.is_closing():
            return
        log.warning("%s from %s: %s", status, self.client, message)
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.transport.write(_answer(status, message))
        elif not cycle.response_started and not self.pipeline:
            cycle.scope[REFUSED] = status, message  # type: ignore[literal-required]
            cycle.disconnected = True  # the app's receive and send see a closed connection
            cycle.message_event.set()
            self.transport.write(_answer(status, message))
        self.transport.close()

    def _unsupported_upgrade_warning(self) -> None:
        """An `Upgrade` request (h2c, websocket) is served as plain HTTP/1.1: websockets are
        off on purpose (`ws="none"`), so uvicorn's warnings (an unsupported upgrade, advice to
        install a WebSocket library) are wrong here, and a client could fill the log with
        them."""

    def send_400_response(self, msg: str) -> None:
        """A request the parser cannot read: 400 in the project's JSON shape, then close."""
        self._refuse(400, f"not a valid HTTP/1.1 request: {msg}")

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        self._refuse(408, f"request line and headers not received within "
                          f"{self.limits.header_seconds:g} s")

    def _body_too_slow(self) -> None:
        self._body_timer = None
        self._refuse(408, f"body not received within {self.limits.body_seconds:g} s")

    def _headers_too_large(self) -> None:
        self._refuse(431, f"request line and headers exceed "
                          f"{self.limits.max_header_bytes} bytes")

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        super().data_received(data)
        if self._in_headers:  # headers still incomplete
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._headers_too_large()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._header_bytes = 0
        self._disarm_body()
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        if self.transport.is_closing():  # refused earlier in the same read
            return
        # as sent in one read, the parser completes the headers before `data_received` counts
        size = (len(self.parser.get_method()) + len(self.url) + len(" HTTP/1.1\r\n\r\n") + 1
                + sum(len(name) + len(value) + len(": \r\n") for name, value in self.headers))
        if size > self.limits.max_header_bytes:
            self._headers_too_large()
            return
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle is before:  # an upgrade: no request cycle
            return
        send = cycle.send

        async def send_closing_if_body_unread(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and cycle.more_body:
                cycle.keep_alive = False  # the rest of the body is not waited for
            await send(message)

        cycle.send = send_closing_if_body_unread  # type: ignore[method-assign]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        """A request is taken up (at once, or when the one before it is answered): its body,
        if still to come, is timed from now."""
        super()._start_asgi_task(cycle, app)
        self._disarm_body()
        if cycle.more_body and not self.transport.is_closing():
            self._body_timer = self.loop.call_later(self.limits.body_seconds,
                                                    self._body_too_slow)

    def on_response_complete(self) -> None:
        """The next request's turn: headers that arrived meanwhile are timed from now."""
        super().on_response_complete()
        if self._in_headers and not self.transport.is_closing():
            self._arm()

    def on_body(self, body: bytes) -> None:
        if not self.transport.is_closing():
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm_body()
        if not self.transport.is_closing():
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        super().connection_lost(exc)


def limited_protocol(limits: Limits) -> type[LimitedProtocol]:
    return type("LimitedHttpToolsProtocol", (LimitedProtocol,), {"limits": limits})
