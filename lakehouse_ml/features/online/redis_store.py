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
A cleanup never deletes the namespace the pointer names at that moment (one script call).
Publishes of one table must not run concurrently: one that finds the pointer moved under it, or
its own namespace deleted by another's cleanup, fails (`FeatureStoreError`), deletes its own
namespace and leaves the other's publication in place. A pointer naming a namespace without
its meta (deleted by hand, evicted) reads as not published.
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
if ARGV[2] ~= token then out[2] = redis.call('GET', base .. ':meta')
elseif redis.call('EXISTS', base .. ':meta') == 0 then return false end
if #ARGV > 2 then out[3] = redis.call('HMGET', base .. ':rows', unpack(ARGV, 3)) end
return out
"""
"""The current token, its snapshot text unless the caller knows that token (ARGV[2]), and
the rows of the keys ARGV[3:], in one atomic call; false when nothing is published, or the
known token's namespace is gone (no text for another token's missing namespace)."""
_DELETE_UNUSED = """
local current = redis.call('GET', KEYS[1])
local unused = {}
for _, token in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if token ~= current then
    redis.call('UNLINK', ARGV[1] .. token .. ':rows', ARGV[1] .. token .. ':meta')
    unused[#unused + 1] = token
  end
end
if #unused > 0 then redis.call('SREM', KEYS[2], unpack(unused)) end
return #unused
"""
"""Delete every namespace of the set KEYS[2] but the one the pointer KEYS[1] names now (in
one atomic call: a publish switching meanwhile cannot lose its namespace); ARGV[1] is the
table's key prefix. Returns how many were deleted."""


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis  # optional dependency: only needed when Redis is configured

        self.url = url
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._read = self._client.register_script(_READ)
        self._delete = self._client.register_script(_DELETE_UNUSED)
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
        self._delete_unused(table)
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
        self._delete_unused(table)

    def update(
        self, table: str, held: Snapshot, snapshot: Snapshot, keys: Sequence[str],
        rows: Sequence[str], gone: Sequence[str],
    ) -> tuple[int, int] | None:
        """`OnlineStore.update`: the stored rows of `keys` and `gone` are read (one
        namespace) and compared here, then only the differing ones are written (`write`)."""
        pairs = list(zip(keys, rows, strict=True))
        stored, values = self.read(table, [*keys, *gone])
        if stored != held:
            return None
        changed = [(k, r) for (k, r), v in zip(pairs, values[:len(pairs)], strict=True)
                   if r != v]
        dropped = [k for k, v in zip(gone, values[len(pairs):], strict=True) if v is not None]
        self.write(table, snapshot, [k for k, _ in changed], [r for _, r in changed], dropped,
                   replace=False)
        return len(changed), len(dropped)

    def _switch(self, table: str, expected: str | None, token: str) -> None:
        """Point the table at namespace `token` if it still points at `expected` and no other
        publish's cleanup deleted `token` meanwhile; otherwise delete `token`'s namespace and
        raise `FeatureStoreError`."""
        import redis

        pointer, namespaces = self._pointer(table), self._namespaces(table)
        lost = False
        with self._client.pipeline(transaction=True) as switch:
            try:
                switch.watch(pointer, namespaces)
                moved = switch.get(pointer) != expected
                lost = not moved and not switch.sismember(namespaces, token)
                if not (moved or lost):
                    switch.multi()
                    switch.set(pointer, token)
                    switch.execute()
            except redis.WatchError:
                moved = True
        if moved or lost:
            base = self._base(table)
            self._client.unlink(f"{base}{token}:rows", f"{base}{token}:meta")
            self._client.srem(namespaces, token)
            happened = ("switched the online store" if moved
                        else "deleted this publication's namespace")
            raise FeatureStoreError(
                f"publish {table}: another publish {happened} meanwhile; publish again"
            )

    def _delete_unused(self, table: str) -> None:
        """Delete every namespace of the table but the current one (left by earlier publishes,
        finished, killed or failed)."""
        self._delete(keys=[self._pointer(table), self._namespaces(table)],
                     args=[self._base(table)])

    def close(self) -> None:
        self._client.close()
