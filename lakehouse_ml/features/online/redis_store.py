"""Redis online store: each publication of a table is a namespace, and one pointer names the
current one.

Keys, for a table `t`: `lakehouse:online:t:current` (the current namespace's token),
`lakehouse:online:t:<token>:rows` (hash: encoded key -> encoded rows) and `...:<token>:meta`
(the snapshot), and `lakehouse:online:t:namespaces` (every token not yet deleted).

A publish writes a new namespace (a server-side copy of the current one plus the changes, or
everything when replacing), then switches the pointer in one transaction, and only then deletes
older namespaces. Readers resolve the pointer and read rows in one server-side script call, so
they see one publication or the next, never a mix; a publish killed at any point leaves the
previous publication in place, and its half-written namespace is deleted by the next publish.
Publishes of one table must not run concurrently (one that finds the pointer moved under it
fails and leaves the other's publication in place).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from itertools import islice

from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.online.codec import Snapshot, snapshot_from_text

_BATCH = 10_000
"""Fields per HSET/HDEL command while writing a namespace."""
_READ_BATCH = 4_000
"""Keys per read script call (Lua's `unpack` takes at most about 8,000 values)."""
_PREFIX = "lakehouse:online"

_READ = """
local token = redis.call('GET', KEYS[1])
if not token then return false end
local base = ARGV[1] .. token
local out = {token, false}
if ARGV[2] ~= token then out[2] = redis.call('GET', base .. ':meta') end
if #ARGV > 2 then out[3] = redis.call('HMGET', base .. ':rows', unpack(ARGV, 3)) end
return out
"""
"""The current token, its snapshot text unless the caller knows that token (ARGV[2]), and
the rows of the keys ARGV[3:], in one atomic call."""


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis  # optional dependency: only needed when Redis is configured

        self.url = url
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._read = self._client.register_script(_READ)
        self._known: dict[str, tuple[str, Snapshot]] = {}
        """Table -> the last token read and its snapshot (its meta is then not sent again)."""

    def _base(self, table: str) -> str:
        return f"{_PREFIX}:{table}:"

    def _pointer(self, table: str) -> str:
        return f"{self._base(table)}current"

    def _namespaces(self, table: str) -> str:
        return f"{self._base(table)}namespaces"

    def _call(self, table: str, keys: Sequence[str]) -> tuple[str, Snapshot, list] | None:
        known = self._known.get(table)
        reply = self._read(keys=[self._pointer(table)],
                           args=[self._base(table), known[0] if known else "", *keys])
        if not reply:
            return None
        token, text, *rows = reply
        if text is None and (known is None or known[0] != token):
            return None  # the namespace was deleted under the pointer (a concurrent publish)
        if text is not None:
            known = token, snapshot_from_text(text)
            self._known[table] = known
        return token, known[1], (rows[0] if rows else [])

    def snapshot(self, table: str) -> Snapshot | None:
        found = self._call(table, [])
        return found[1] if found else None

    def read(self, table: str, keys: Sequence[str]) -> tuple[Snapshot | None, list[str | None]]:
        while True:  # every batch from one namespace: a publish in between means again
            tokens, snapshot, values = set(), None, []
            for start in range(0, max(len(keys), 1), _READ_BATCH):
                found = self._call(table, keys[start : start + _READ_BATCH])
                if found is None:
                    return None, [None] * len(keys)
                token, snapshot, rows = found
                tokens.add(token)
                values.extend(rows)
            if len(tokens) == 1:
                return snapshot, values

    def write(
        self, table: str, snapshot: Snapshot, keys: Sequence[str], rows: Sequence[str],
        deleted: Sequence[str], *, replace: bool,
    ) -> None:
        client = self._client
        current = client.get(self._pointer(table))
        self._delete_unused(table, current)
        token = uuid.uuid4().hex
        client.sadd(self._namespaces(table), token)  # before anything of it exists
        target = f"{self._base(table)}{token}:rows"
        if current is not None and not replace:
            client.copy(f"{self._base(table)}{current}:rows", target)
        pipe = client.pipeline(transaction=False)
        for start in range(0, len(deleted), _BATCH):
            pipe.hdel(target, *deleted[start : start + _BATCH])
        pairs = iter(zip(keys, rows, strict=True))
        while batch := dict(islice(pairs, _BATCH)):
            pipe.hset(target, mapping=batch)
            pipe.execute()
        pipe.set(f"{self._base(table)}{token}:meta", snapshot.to_text())
        pipe.execute()
        self._switch(table, current, token)
        self._delete_unused(table, token)

    def _switch(self, table: str, expected: str | None, token: str) -> None:
        """Point the table at namespace `token` if it still points at `expected`."""
        import redis

        pointer = self._pointer(table)
        with self._client.pipeline(transaction=True) as switch:
            try:
                switch.watch(pointer)
                moved = switch.get(pointer) != expected
                if not moved:
                    switch.multi()
                    switch.set(pointer, token)
                    switch.execute()
            except redis.WatchError:
                moved = True
        if moved:
            raise FeatureStoreError(
                f"publish {table}: another publish switched the online store meanwhile; "
                "publish again"
            )

    def _delete_unused(self, table: str, current: str | None) -> None:
        """Delete every namespace of the table but `current` (left by earlier publishes,
        finished or killed)."""
        unused = [t for t in self._client.smembers(self._namespaces(table)) if t != current]
        if unused:
            base = self._base(table)
            self._client.unlink(*(f"{base}{t}:{part}" for t in unused for part in ("rows", "meta")))
            self._client.srem(self._namespaces(table), *unused)

    def close(self) -> None:
        self._client.close()
