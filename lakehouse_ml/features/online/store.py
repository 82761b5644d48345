"""The online store contract and the choice of backend (SQLite by default, Redis if configured)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

from lakehouse_ml.features.online.codec import Snapshot
from lakehouse_ml.features.online.redis_store import RedisStore
from lakehouse_ml.features.online.sqlite_store import SQLiteStore


class OnlineStore(Protocol):
    """Encoded key -> the key's encoded rows per table, plus the snapshot they were published
    from. A reader sees one publication whole, never parts of two."""

    def snapshot(self, table: str) -> Snapshot | None: ...

    def write(
        self, table: str, snapshot: Snapshot, keys: Sequence[str], rows: Sequence[str],
        deleted: Sequence[str], *, replace: bool,
    ) -> None:
        """Upsert `rows` under `keys`, drop `deleted` (or everything else if `replace`), as
        one publication: readers see all of it or none."""

    def update(
        self, table: str, held: Snapshot, snapshot: Snapshot, keys: Sequence[str],
        rows: Sequence[str], gone: Sequence[str],
    ) -> tuple[int, int] | None:
        """If the store still holds the publication `held`, publish `snapshot` over it as
        one publication: each of `keys` whose stored rows differ from its entry in `rows` (or
        that has none) gets them, each of `gone` the store holds is dropped, every other key
        keeps its rows. Returns (keys written, keys dropped). None, writing nothing, when
        another publication replaced `held` meanwhile."""

    def read(
        self, table: str, keys: Sequence[str]
    ) -> tuple[Snapshot | None, list[str | None]]: ...

    def close(self) -> None: ...


def default_store(root: str, env: str, redis_url: str | None = None) -> OnlineStore:
    """Redis when a URL is given or `REDIS_URL` is set, else SQLite files under the root."""
    url = redis_url or os.environ.get("REDIS_URL")
    if url:
        return RedisStore(url)
    if "://" in root:
        raise ValueError(
            f"lakehouse root {root} is remote: the SQLite online store needs a local root; "
            "set REDIS_URL or pass an online_store"
        )
    return SQLiteStore(f"{root}/{env}/_online")
