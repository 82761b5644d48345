"""Redis online store: one hash per feature table (encoded key -> encoded row) plus a meta key.

A lookup is one round trip (meta and rows in one MULTI/EXEC). A publish writes rows before the meta,
so an interrupted publish is repaired by the next one, which diffs from the recorded version.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

from lakehouse_ml.features.online.codec import Snapshot, snapshot_from_text

_BATCH = 10_000
_PREFIX = "lakehouse:online"


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis  # optional dependency: only needed when Redis is configured

        self.url = url
        self._client = redis.Redis.from_url(url, decode_responses=True)

    def _rows(self, table: str) -> str:
        return f"{_PREFIX}:{table}:rows"

    def _meta(self, table: str) -> str:
        return f"{_PREFIX}:{table}:meta"

    def snapshot(self, table: str) -> Snapshot | None:
        text = self._client.get(self._meta(table))
        return snapshot_from_text(text) if text else None

    def write(
        self, table: str, snapshot: Snapshot, keys: Sequence[str], rows: Sequence[str],
        deleted: Sequence[str], *, replace: bool,
    ) -> None:
        pipe = self._client.pipeline(transaction=False)
        if replace:
            pipe.delete(self._rows(table))
        for start in range(0, len(deleted), _BATCH):
            pipe.hdel(self._rows(table), *deleted[start : start + _BATCH])
        pairs = iter(zip(keys, rows, strict=True))
        while batch := dict(islice(pairs, _BATCH)):
            pipe.hset(self._rows(table), mapping=batch)
            pipe.execute()
        pipe.set(self._meta(table), snapshot.to_text())
        pipe.execute()

    def read(self, table: str, keys: Sequence[str]) -> tuple[Snapshot | None, list[str | None]]:
        pipe = self._client.pipeline(transaction=True)  # the snapshot and its rows, never a mix
        pipe.get(self._meta(table))
        if keys:
            pipe.hmget(self._rows(table), list(keys))
        text, *found = pipe.execute()
        return (snapshot_from_text(text) if text else None), (found[0] if found else [])

    def close(self) -> None:
        self._client.close()
