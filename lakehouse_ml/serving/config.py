"""How a serving process is set up: where the lakehouse is, what it serves, and its knobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lakehouse_ml.config import Settings
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.serving.limits import InvalidSetting, Limits, UnknownKeys, positive

__all__ = ["Limits", "ServingConfig", "UnknownKeys"]


@dataclass(frozen=True)
class ServingConfig:
    settings: Settings
    endpoints: Mapping[str, ModelSpec]
    """Endpoint name → the model it serves (its champion, and challenger if there is one)."""
    challenger_share: float = 0.1
    """Share of keys the challenger scores when the model has one."""
    poll_seconds: float = 5.0
    """How often aliases and tokens are re-read: an alias move or a revocation takes effect
    within this time."""
    log_flush_rows: int = 1000
    log_flush_seconds: float = 5.0
    log_body_bytes: int = 16 * 1024
    """Request and response bodies longer than this are logged as a prefix plus a sha256."""
    log_buffer_bytes: int = 64 * 1024 * 1024
    """Most log bytes held in memory while the table cannot be written; rows beyond are shed
    (and counted on /health)."""
    max_batch_rows: int = 1024
    """Most rows scored in one dynamic batch."""
    unknown_keys: UnknownKeys = UnknownKeys.SCORE
    limits: Limits = Limits()
    principal: str | None = None
    """Whom the server acts as (None: the current principal, `$LAKEHOUSE_PRINCIPAL` else the
    OS user); `serve --domain` sets its domain's serving principal (`serving.identity`)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.challenger_share <= 1.0:
            raise InvalidSetting(("challenger_share",),
                                 f"{self.challenger_share} is not in [0, 1]")
        positive(self, "poll_seconds", "log_flush_rows", "log_flush_seconds")
        if not self.endpoints:
            raise ValueError("no endpoints to serve")
        if self.log_body_bytes < 64 or self.log_buffer_bytes < self.log_body_bytes:
            raise InvalidSetting(("log_body_bytes", "log_buffer_bytes"),
                                 f"the first must be at least 64 and at most the second, got "
                                 f"{self.log_body_bytes} and {self.log_buffer_bytes}")
