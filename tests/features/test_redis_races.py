"""Races of the Redis online store provoked at the exact point, on a real redis-server: a
second real publish (another `RedisStore`, its own connections) runs between this publish's
WATCH and EXEC, between its reading of the pointer and its cleanup, or while it writes; and
between two batch calls of one read. The real redis client is wrapped in the test so that the
other publish happens at that moment; nothing of lakehouse_ml is replaced."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.online import RedisStore
from lakehouse_ml.features.online.codec import Snapshot

KEYS = [f'{{"k":"{i}"}}' for i in range(4_500)]
"""More keys than one read script call takes (4,000): a read makes two batch calls."""
SCHEMA = pl.Schema({"k": pl.String, "v": pl.Int64})
BASE = "lakehouse:online:t:"


def snapshot(version: int) -> Snapshot:
    return Snapshot(version, ["k"], SCHEMA, None, datetime(2026, 1, version, tzinfo=UTC))


def values(version: int) -> list[str]:
    """Every key's value names the publication it comes from."""
    return [f"[{version}]"] * len(KEYS)


def first_call(obj: object, name: str, action: Callable[[], None], *, after: bool = False
               ) -> list[int]:
    """Make `obj.name` (a method of a real redis object) run `action` once, before (or after)
    its first real call; the returned list gets one item when it has run."""
    real, ran = getattr(obj, name), []

    def call(*args: Any, **kwargs: Any) -> Any:
        if ran:
            return real(*args, **kwargs)
        ran.append(1)
        if not after:
            action()
        result = real(*args, **kwargs)
        if after:
            action()
        return result

    setattr(obj, name, call)
    return ran


@pytest.fixture
def stores(redis_url: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """Two stores on one server, each with its own connections, and the table published once
    (version 1, every key's value [1])."""
    mine, other = RedisStore(redis_url), RedisStore(redis_url)
    mine._client.flushdb()
    mine.write("t", snapshot(1), KEYS, values(1), [], replace=True)
    yield mine, other
    mine.close()
    other.close()


def held(store: RedisStore) -> tuple[str, set[str]]:
    """The current token, after checking that Redis holds exactly that publication."""
    client = store._client
    token = client.get(f"{BASE}current")
    assert client.smembers(f"{BASE}namespaces") == {token}
    assert set(client.keys(f"{BASE}*")) == {f"{BASE}current", f"{BASE}namespaces",
                                            f"{BASE}{token}:rows", f"{BASE}{token}:meta"}
    return token, set(client.hkeys(f"{BASE}{token}:rows"))


def test_a_publish_switched_by_another_between_its_watch_and_exec_fails_and_keeps_the_other(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """The other publish switches the pointer after this one WATCHed it and found it unchanged,
    before its EXEC: the EXEC is refused, this publish fails naming the table, and the other's
    publication stays current, whole."""
    mine, other = stores
    switched: list[str] = []

    def other_publishes() -> None:
        other.write("t", snapshot(2), KEYS, values(2), [], replace=True)
        switched.append(other._client.get(f"{BASE}current"))

    real_pipeline = mine._client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        if not switched:  # the switch's pipeline calls multi() between its WATCH and EXEC
            first_call(pipe, "multi", other_publishes)
        return pipe

    mine._client.pipeline = pipeline
    with pytest.raises(FeatureStoreError) as refused:
        mine.write("t", snapshot(3), KEYS, values(3), [], replace=True)
    assert str(refused.value) == ("publish t: another publish switched the online store "
                                  "meanwhile; publish again")
    assert len(switched) == 1
    assert held(mine) == (switched[0], set(KEYS))
    assert mine.read("t", KEYS) == (snapshot(2), values(2))


def test_a_publish_whose_pointer_moved_before_its_cleanup_keeps_the_other_publication(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """The other publish runs whole between this one's reading of the pointer and its cleanup
    of unused namespaces: the cleanup must not delete the other's (now current) publication;
    this publish fails and the other's stays readable."""
    mine, other = stores
    ran = first_call(mine._client, "get",
                     lambda: other.write("t", snapshot(2), KEYS, values(2), [], replace=True),
                     after=True)
    with pytest.raises(FeatureStoreError, match="another publish switched"):
        mine.write("t", snapshot(3), KEYS, values(3), [], replace=True)
    assert ran
    assert mine.read("t", KEYS) == (snapshot(2), values(2))
    held(mine)


def test_a_publish_whose_namespace_another_deleted_while_it_wrote_does_not_switch_to_it(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """The other publish starts (cleans up unused namespaces, this one's included) while this
    one writes, and switches after it: this one must not point readers at its namespace with
    the copied rows gone; it fails, and the other's publication is whole and current."""
    mine, other = stores
    cleaned, written = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def other_publishes() -> None:
        first_call(other._client, "sadd", lambda: (cleaned.set(), written.wait(30)))
        try:
            other.write("t", snapshot(2), KEYS[1:2], ["[2]"], [], replace=False)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            failures.append(error)

    thread = threading.Thread(target=other_publishes)

    def start_other() -> None:  # before this publish's first rows are written, after its copy
        thread.start()
        assert cleaned.wait(30)

    real_pipeline = mine._client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        if thread.ident is None:  # the rows pipeline, made before the switch's
            first_call(pipe, "execute", start_other)
        return pipe

    mine._client.pipeline = pipeline
    try:
        with pytest.raises(FeatureStoreError) as refused:
            mine.write("t", snapshot(3), KEYS[:1], ["[3]"], [], replace=False)
    finally:
        written.set()
        if thread.ident is not None:
            thread.join(30)
    assert str(refused.value) == ("publish t: another publish deleted this publication's "
                                  "namespace meanwhile; publish again")
    assert thread.ident is not None and not failures
    expected = values(1)
    expected[1] = "[2]"
    assert mine.read("t", KEYS) == (snapshot(2), expected)
    held(mine)


def in_switch(store: RedisStore, action: Callable[[], None]) -> list[int]:
    """Make `action` run once inside the store's switch: after its WATCH and its checks of the
    pointer and of the namespace set, before its MULTI/EXEC."""
    real_pipeline, ran = store._client.pipeline, []

    def once() -> None:
        if not ran:
            ran.append(1)
            action()

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        if kwargs.get("transaction"):  # the switch's, not the rows' pipeline
            first_call(pipe, "multi", once)
        return pipe

    store._client.pipeline = pipeline
    return ran


def test_a_cleanup_deleting_this_namespace_inside_its_switch_refuses_the_switch(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """Another publish's cleanup deletes this publish's namespace (not current yet) after this
    one's switch found it in the namespace set: the switch must not point readers at it (the
    set is WATCHed too); this publish fails and the first publication stays current, whole."""
    mine, other = stores
    first = mine._client.get(f"{BASE}current")
    ran = in_switch(mine, lambda: other._delete_unused("t"))
    with pytest.raises(FeatureStoreError, match="^publish t: another publish"):
        mine.write("t", snapshot(3), KEYS, values(3), [], replace=True)
    assert ran
    assert held(mine) == (first, set(KEYS))
    assert mine.read("t", KEYS) == (snapshot(1), values(1))


def test_a_pointer_switched_inside_this_switch_alone_refuses_it(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """The other publish wrote its namespace before this one's switch and switches the pointer
    between this one's WATCH and EXEC, without touching the namespace set then: the pointer is
    WATCHed, so this switch is refused and the other's publication stays current."""
    mine, other = stores
    pending: list[tuple[Any, ...]] = []

    def other_writes_its_namespace() -> None:  # after this publish's own cleanup
        other._switch = lambda *args: pending.append(args)
        other._delete_unused = lambda table: None
        other.write("t", snapshot(2), KEYS, values(2), [], replace=True)
        del other._switch, other._delete_unused

    real_pipeline = mine._client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = real_pipeline(*args, **kwargs)
        if kwargs.get("transaction") is False and not pending:
            first_call(pipe, "execute", other_writes_its_namespace)
        return pipe

    mine._client.pipeline = pipeline
    ran = in_switch(mine, lambda: other._switch(*pending[0]))
    with pytest.raises(FeatureStoreError) as refused:
        mine.write("t", snapshot(3), KEYS, values(3), [], replace=True)
    assert str(refused.value) == ("publish t: another publish switched the online store "
                                  "meanwhile; publish again")
    assert ran and len(pending) == 1
    other._delete_unused("t")  # the other publish's own cleanup, after its switch
    assert held(mine) == (mine._client.get(f"{BASE}current"), set(KEYS))
    assert mine._client.get(f"{BASE}current") == pending[0][2]
    assert mine.read("t", KEYS) == (snapshot(2), values(2))


def read_with(store: RedisStore, between: Callable[[], None]) -> list[int]:
    """Make `between` run right after the store's first read script call (between the first
    and the second batch of a read of `KEYS`); returns the list of script calls made."""
    script, calls = store._read, []

    def read(keys: list[str], args: list[str]) -> Any:
        reply = script(keys=keys, args=args)
        calls.append(len(args))
        if len(calls) == 1:
            between()
        return reply

    store._read = read
    return calls


def test_a_read_whose_batches_span_a_publish_reads_again_never_mixing_them(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """A publish between the two batch calls of one read: the read starts again and returns
    the new publication's rows and snapshot only."""
    mine, other = stores
    calls = read_with(mine, lambda: other.write("t", snapshot(2), KEYS, values(2), [],
                                                replace=False))
    assert mine.read("t", KEYS) == (snapshot(2), values(2))
    assert len(calls) == 4  # two batches from publication 1, then two from publication 2


def test_a_namespace_gone_under_the_pointer_between_batches_reads_as_not_published(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """Between two batch calls, the table is published again and the new namespace then
    disappears (deleted by hand or evicted): the read answers 'not published' (the reader
    raises its named error), never the snapshot it knew with rows missing."""
    mine, other = stores

    def publish_then_lose_it() -> None:
        other.write("t", snapshot(2), KEYS, values(2), [], replace=False)
        token = other._client.get(f"{BASE}current")
        other._client.delete(f"{BASE}{token}:rows", f"{BASE}{token}:meta")

    read_with(mine, publish_then_lose_it)
    assert mine.read("t", KEYS) == (None, [None] * len(KEYS))


def test_the_known_namespace_gone_under_the_pointer_reads_as_not_published(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """The same with the namespace the reader already knows (its snapshot text is then not
    sent again): its loss between two batches is noticed too, not read as unknown keys."""
    mine, _ = stores
    token = mine._client.get(f"{BASE}current")
    read_with(mine, lambda: mine._client.delete(f"{BASE}{token}:rows", f"{BASE}{token}:meta"))
    assert mine.read("t", KEYS) == (None, [None] * len(KEYS))
