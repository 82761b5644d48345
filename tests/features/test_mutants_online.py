"""The online stores called directly (issue 10, `make mutation`'s `online` group): what a read
of an unpublished table gives, what a replacing write leaves, and that Redis holds exactly the
current publication of each table under the keys its module documents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.online import OnlineStore, RedisStore, SQLiteStore
from lakehouse_ml.features.online.codec import Snapshot

SCHEMA = pl.Schema({"k": pl.String, "v": pl.Int64})


def snapshot(version: int) -> Snapshot:
    return Snapshot(version, ["k"], SCHEMA, None, datetime(2026, 1, version, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        found: OnlineStore = SQLiteStore(tmp_path / "online")
    else:
        found = RedisStore(request.getfixturevalue("redis_url"))
        found._client.flushdb()
    yield found
    found.close()


def test_an_unpublished_table_reads_as_no_snapshot_and_a_null_per_key(store: OnlineStore
                                                                       ) -> None:
    assert store.snapshot("t") is None
    assert store.read("t", ['{"k":"a"}', '{"k":"b"}']) == (None, [None, None])
    assert store.read("t", []) == (None, [])


def test_a_replacing_write_keeps_no_earlier_row_and_an_update_keeps_the_others(
    store: OnlineStore,
) -> None:
    a, b, c = '{"k":"a"}', '{"k":"b"}', '{"k":"c"}'
    store.write("t", snapshot(1), [a, b], ["[1]", "[2]"], [], replace=True)
    store.write("t", snapshot(2), [a], ["[10]"], [], replace=True)
    assert store.read("t", [a, b]) == (snapshot(2), ["[10]", None])
    store.write("t", snapshot(3), [c], ["[30]"], [a], replace=False)
    assert store.read("t", [a, b, c]) == (snapshot(3), [None, None, "[30]"])
    store.write("t", snapshot(4), [b], ["[20]"], [], replace=False)
    assert store.read("t", [c, b, a]) == (snapshot(4), ["[30]", "[20]", None])


def test_redis_holds_only_the_current_publication_of_each_table(redis_url: str) -> None:
    store = RedisStore(redis_url)
    client = store._client
    client.flushdb()
    for version, replace in ((1, True), (2, False), (3, True), (4, False)):
        for table in ("gold.a", "gold.b"):
            store.write(table, snapshot(version), [f'{{"k":"{version}"}}'], ["[1]"], [],
                        replace=replace)
    expected = set()
    for table in ("gold.a", "gold.b"):
        base = f"lakehouse:online:{table}:"
        token = client.get(f"{base}current")
        assert client.smembers(f"{base}namespaces") == {token}
        expected |= {f"{base}current", f"{base}namespaces", f"{base}{token}:rows",
                     f"{base}{token}:meta"}
        assert client.hgetall(f"{base}{token}:rows") == {f'{{"k":"{v}"}}': "[1]"
                                                         for v in (3, 4)}
    assert set(client.keys("lakehouse:online:*")) == expected
    store.close()


def test_a_redis_publish_finding_the_pointer_moved_fails_and_leaves_it(redis_url: str) -> None:
    """Another publish switched the table between this one's start and its switch: this one
    fails, naming the table, and the other's publication stays current."""
    store = RedisStore(redis_url)
    store._client.flushdb()
    store.write("t", snapshot(1), ['{"k":"a"}'], ["[1]"], [], replace=True)
    current = store._client.get("lakehouse:online:t:current")
    with pytest.raises(FeatureStoreError) as refused:
        store._switch("t", "a-namespace-replaced-meanwhile", "mine")
    assert str(refused.value) == ("publish t: another publish switched the online store "
                                  "meanwhile; publish again")
    assert store._client.get("lakehouse:online:t:current") == current
    assert store.read("t", ['{"k":"a"}']) == (snapshot(1), ["[1]"])
    store.close()


def test_a_write_of_more_keys_than_rows_is_refused_and_changes_nothing(store: OnlineStore
                                                                       ) -> None:
    a, b = '{"k":"a"}', '{"k":"b"}'
    store.write("t", snapshot(1), [a], ["[1]"], [], replace=True)
    with pytest.raises(ValueError, match="zip"):
        store.write("t", snapshot(2), [a, b], ["[2]"], [], replace=True)
    assert store.read("t", [a, b]) == (snapshot(1), ["[1]", None])
    store.write("t", snapshot(3), [b], ["[3]"], [], replace=False)  # the store still writes
    assert store.read("t", [a, b]) == (snapshot(3), ["[1]", "[3]"])


def test_sqlite_reads_more_keys_than_one_statement_binds(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "online")
    keys = [f'{{"k":"{n}"}}' for n in range(1201)]
    store.write("t", snapshot(1), keys, [f"[{n}]" for n in range(1201)], [], replace=True)
    found = store.read("t", [*keys[::-1], '{"k":"x"}'])
    assert found == (snapshot(1), [*(f"[{n}]" for n in range(1200, -1, -1)), None])
    store.close()
