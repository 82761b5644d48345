"""What one client may ask of a serving worker, and what is done with keys nobody knows.

Kept apart from `config` (which imports the model specs) so that the CLI can show the
defaults without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum


class InvalidSetting(ValueError):
    """A setting out of its range: `names` are the settings (fields) at fault, so that a
    caller can name them as the user typed them (the CLI: `--max-rows`)."""

    def __init__(self, names: tuple[str, ...], problem: str) -> None:
        super().__init__(f"{' and '.join(names)}: {problem}")
        self.names, self.problem = names, problem


class UnknownKeys(StrEnum):
    """What to do with a key-only row for which a feature lookup found no row."""

    SCORE = "score"
    """Score it anyway (with the features' defaults) and flag it in `unmatched_lookups`."""
    REFUSE = "refuse"
    """Refuse the request (422) naming the keys and the feature tables that lack them."""


@dataclass(frozen=True)
class Limits:
    """What one client may ask of a worker; every request is bounded by all of these.

    Exceeding one is answered, never served partly: 413 (body bytes), 400 (rows), 431 (header
    bytes), 408 (header or body read time), 503 (connections)."""

    max_body_bytes: int = 8 * 1024 * 1024
    """Largest request body, in bytes (checked on Content-Length and while reading)."""
    max_rows: int = 10_000
    """Most rows in one request."""
    max_header_bytes: int = 64 * 1024
    """Largest request line plus headers, in bytes."""
    header_seconds: float = 10.0
    """Time a client has, from connecting (or its first byte on a kept-alive connection), to
    send the request line and headers."""
    body_seconds: float = 30.0
    """Time a client has to send the whole body once the headers are in."""
    max_connections: int = 256
    """Open connections (and requests in progress) beyond which a new one gets 503."""
    chunk_rows: int = 128
    """A request above this many rows is scored in chunks of this size, taking turns with
    other requests, so a large request never holds up small ones for more than one chunk."""
    parse_inline_bytes: int = 64 * 1024
    """Bodies up to this size are parsed on the event loop (microseconds); larger ones on a
    parsing thread."""

    def __post_init__(self) -> None:
        for field in fields(self):
            positive(self, field.name)


def positive(settings: object, *names: str) -> None:
    """InvalidSetting for the first of these settings that is not above 0 (NaN included)."""
    for name in names:
        if not getattr(settings, name) > 0:
            raise InvalidSetting((name,), f"must be positive, got {getattr(settings, name)}")
