"""Champion/challenger traffic split: each key always lands on the same side.

A key's bucket is a hash of its values (blake2b, stable across processes and restarts, unlike
Python's `hash`), read as a number in [0, 1); keys whose bucket is below the challenger share go
to the challenger. Raising the share only moves keys from champion to challenger.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

_SCALE = 2.0**64


def bucket(key: Sequence[Any]) -> float:
    text = "\x1f".join(str(v) for v in key).encode()
    return int.from_bytes(blake2b(text, digest_size=8).digest(), "big") / _SCALE


def to_challenger(keys: Sequence[Sequence[Any]] | None, rows: int, share: float) -> list[bool]:
    """Per row: served by the challenger? Rows without keys (None) go to the champion."""
    if keys is None or share <= 0:
        return [False] * rows
    return [bucket(key) < share for key in keys]
