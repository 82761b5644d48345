"""An `Upgrade` request (h2c, websocket) is served as plain HTTP/1.1 without a word in the
server log: websockets are off on purpose, uvicorn's advice to install a WebSocket library
does not apply (and a client could fill the log with it)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    records, logger = _Records(), logging.getLogger("uvicorn.error")
    logger.addHandler(records)
    try:
        yield records.messages
    finally:
        logger.removeHandler(records)


@pytest.mark.parametrize("upgrade", ["h2c", "websocket"])
def test_an_upgrade_request_is_served_as_http_and_not_logged(
    server: httpx.Client, server_log: list[str], upgrade: str
) -> None:
    response = server.get("/health", headers={"Connection": "Upgrade", "Upgrade": upgrade,
                                              "HTTP2-Settings": "AAMAAABkAAQAAP__"})
    assert response.status_code == 200 and response.json()["endpoints"], response.text
    assert not [m for m in server_log if "upgrade" in m.lower() or "WebSocket" in m], server_log
