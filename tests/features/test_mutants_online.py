"""The online stores called directly (issue 10, `make mutation`'s `online` group): what a read
of an unpublished table gives, what a replacing write leaves, and that Redis holds exactly the
current publication of each table under the keys its module documents."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.features.errors import FeatureStoreError, KeyTypeError
from lakehouse_ml.features.online import (
    KeyBatch,
    OnlineReader,
    OnlineStore,
    PublishReport,
    RedisStore,
    SQLiteStore,
    default_store,
    publish,
    rows_to_publish,
)
from lakehouse_ml.features.online.codec import Snapshot, encode_grouped

SCHEMA = pl.Schema({"k": pl.String, "v": pl.Int64})
HOUR = timedelta(hours=1)


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


def test_an_update_writes_and_counts_only_the_keys_whose_rows_differ(store: OnlineStore
                                                                     ) -> None:
    """Key a keeps its row (not counted), b's row changes, d is new; c is dropped, e (gone but
    never held) is not counted; the new snapshot replaces the held one. A publication of a
    daily snapshot table then needs no read of the stored rows back (issue 15)."""
    a, b, c, d, e = (f'{{"k":"{k}"}}' for k in "abcde")
    store.write("t", snapshot(1), [a, b, c], ["[1]", "[2]", "[3]"], [], replace=True)
    assert store.update("t", snapshot(1), snapshot(2), [d, b, a], ["[4]", "[20]", "[1]"],
                        [e, c]) == (2, 1)
    assert store.read("t", [a, b, c, d, e]) == (snapshot(2), ["[1]", "[20]", None, "[4]", None])
    assert store.update("t", snapshot(2), snapshot(3), [a], ["[1]"], []) == (0, 0)
    assert store.snapshot("t") == snapshot(3)


def test_an_update_over_another_publication_than_the_held_one_writes_nothing(
    store: OnlineStore,
) -> None:
    """The store holds publication 2 where the publisher read 1 (another publisher replaced
    it meanwhile): comparing with its rows would mix two publications, so nothing is written
    and the publisher is told (None). A write of more keys than rows is refused likewise."""
    a, b = '{"k":"a"}', '{"k":"b"}'
    store.write("t", snapshot(2), [a, b], ["[1]", "[2]"], [], replace=True)
    assert store.update("t", snapshot(1), snapshot(3), [a], ["[9]"], [b]) is None
    with pytest.raises(ValueError, match="zip"):
        store.update("t", snapshot(2), snapshot(3), [a, b], ["[9]"], [])
    assert store.read("t", [a, b]) == (snapshot(2), ["[1]", "[2]"])


def test_sqlite_reads_more_keys_than_one_statement_binds(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "online")
    keys = [f'{{"k":"{n}"}}' for n in range(1201)]
    store.write("t", snapshot(1), keys, [f"[{n}]" for n in range(1201)], [], replace=True)
    found = store.read("t", [*keys[::-1], '{"k":"x"}'])
    assert found == (snapshot(1), [*(f"[{n}]" for n in range(1200, -1, -1)), None])
    store.close()


T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[OnlineReader]:
    """gold.t published in SQLite: key 1 has rows at T0 and T0 + 2 h, key 2 only at T0 + 2 h."""
    frame = pl.DataFrame({"cid": [1, 1, 2], "ts": [T0, T0 + 2 * HOUR, T0 + 2 * HOUR],
                          "v": [10, 11, 20]})
    store = SQLiteStore(tmp_path / "online")
    rows = encode_grouped(frame, ["cid"], "ts")
    store.write("gold.t", Snapshot(1, ["cid"], frame.schema, "ts", T0), rows["key"].to_list(),
                rows["value"].to_list(), [], replace=True)
    yield OnlineReader(store)
    store.close()


def test_a_key_s_row_is_its_latest_at_the_time_asked_and_none_before_its_first(
    reader: OnlineReader,
) -> None:
    found = reader.rows("gold.t", [1, 2, 3], T0 + HOUR)
    assert found.rows() == [(1, T0, 10), (2, None, None), (3, None, None)]
    assert reader.rows("gold.t", [2, 1], T0 + 3 * HOUR)["v"].to_list() == [20, 11]


@pytest.mark.parametrize(("keys", "error", "message"), [
    ([{"cid": 1}, {"x": 2}], FeatureStoreError,
     "online lookup on gold.t: key(s) ['cid'] missing from a key row"),
    ([{"cid": "a"}], KeyTypeError, "online lookup on gold.t: key column 'cid' is Int64; got "),
    ([1, "a"], KeyTypeError, "online lookup on gold.t: key column 'cid' is Int64; got "),
    (pl.DataFrame({"x": [1]}), FeatureStoreError,
     "online lookup keys: column(s) ['cid'] missing (has ['x'])"),
    (pl.DataFrame({"cid": ["1"]}), KeyTypeError,
     "online lookup on gold.t: lookup key column 'cid' is String but the table's key 'cid' is "
     "Int64; cast 'cid' to Int64"),
    ({"cid": [1]}, FeatureStoreError,
     "keys must be a polars or pandas DataFrame, got <class 'dict'>"),
])
def test_refused_keys_are_named_with_the_table(reader: OnlineReader, keys: object,
                                               error: type, message: str) -> None:
    with pytest.raises(error) as refused:
        reader.rows("gold.t", keys, T0)
    assert str(refused.value).startswith(message)


def test_a_remote_root_needs_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ValueError) as refused:
        default_store("s3://bucket/lake", "dev")
    assert str(refused.value) == (
        "lakehouse root s3://bucket/lake is remote: the SQLite online store needs a local "
        "root; set REDIS_URL or pass an online_store")


def test_publish_refuses_the_key_with_the_most_rows_after_its_time_not_at_it(
    tmp_path: Path,
) -> None:
    """Key 7 has a row stamped exactly at the publication time and 3 after it, key 8 one
    after it: 3 are allowed ahead, so the publication passes; 2 are not, and key 7 is named."""
    def rows_at(version: int, now: datetime) -> pl.DataFrame:
        return pl.DataFrame({"k": [8, 7, 7, 7, 7], "v": [1, 2, 3, 4, 5], "ts": [
            now + HOUR, now, now + HOUR, now + 2 * HOUR, now + 3 * HOUR]})

    store = SQLiteStore(tmp_path / "online")
    with pytest.raises(FeatureStoreError, match=r"^publish gold\.f: key \(7,\) has 3 rows "
                       r"stamped after the publication time .* \(at most 2 are kept online\)"):
        publish(store, "gold.f", ["k"], "ts", 1, rows_at, max_future_rows=2)
    assert store.snapshot("gold.f") is None  # refused before anything was written
    assert publish(store, "gold.f", ["k"], "ts", 1, rows_at, max_future_rows=3).written == 2
    store.close()


def test_a_key_batch_typed_otherwise_is_checked_against_the_table(reader: OnlineReader
                                                                  ) -> None:
    batch = KeyBatch(pl.DataFrame({"cid": [1]}, schema={"cid": pl.Int32}))
    with pytest.raises(KeyTypeError) as refused:
        reader.read("gold.t", batch)
    assert str(refused.value) == (
        "online lookup on gold.t: lookup key column 'cid' is Int32 but the table's key 'cid' "
        "is Int64; cast 'cid' to Int64")


def test_a_sqlite_store_makes_its_folders_and_is_shared_by_threads(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lakehouse" / "dev" / "_online")
    a = '{"k":"a"}'
    store.write("t", snapshot(1), [a], ["[1]"], [], replace=True)
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(store.read("t", [a])))
    thread.start()
    thread.join()
    assert found == [(snapshot(1), ["[1]"])]
    store.close()


def test_a_key_s_rows_are_stored_in_time_order_whatever_their_order_in_the_table() -> None:
    frame = pl.DataFrame({"cid": [1, 2, 1], "ts": [T0 + 2 * HOUR, T0, T0], "v": [12, 20, 10]})
    grouped = encode_grouped(frame, ["cid"], "ts")
    snap = Snapshot(1, ["cid"], frame.schema, "ts", T0)
    values = dict(zip(grouped["key"], grouped["value"], strict=True))
    one = [values['{"cid":1}']] * 3
    found = snap.decode(one, pl.Series([T0, T0 + HOUR, T0 + 2 * HOUR]))
    assert found["v"].to_list() == [10, 10, 12]


def test_keys_are_checked_again_when_the_table_was_republished_with_other_key_types(
    reader: OnlineReader,
) -> None:
    assert reader.rows("gold.t", [1], T0)["v"].to_list() == [10]  # its snapshot remembered
    frame = pl.DataFrame({"cid": ["1"], "ts": [T0], "v": [1]})
    rows = encode_grouped(frame, ["cid"], "ts")
    reader.store.write("gold.t", Snapshot(2, ["cid"], frame.schema, "ts", T0),
                       rows["key"].to_list(), rows["value"].to_list(), [], replace=True)
    with pytest.raises(KeyTypeError) as refused:
        reader.rows("gold.t", [1], T0)
    assert str(refused.value) == (
        "online lookup on gold.t: lookup key column 'cid' is Int64 but the table's key 'cid' "
        "is String; cast 'cid' to String")


def test_a_row_stamped_at_the_publication_time_is_published_once_as_the_current_row() -> None:
    frame = pl.DataFrame({"k": [1, 1, 1, 2], "v": [1, 2, 3, 4],
                          "ts": [T0 - HOUR, T0, T0 + HOUR, T0 - HOUR]})
    kept = rows_to_publish(frame.lazy(), ["k"], "ts", T0).sort("k", "ts")
    assert kept["v"].to_list() == [2, 3, 4]
    assert rows_to_publish(frame.lazy(), ["k"], None, T0).height == 4  # no time: every row


def test_publishing_the_held_version_again_writes_nothing_and_reports_its_time(
    tmp_path: Path,
) -> None:
    frames = {1: pl.DataFrame({"k": [1], "v": [1], "ts": [T0]})}
    store = SQLiteStore(tmp_path / "online")
    first = publish(store, "gold.f", ["k"], "ts", 1, lambda v, t: frames[v])
    assert (first.table, first.version, first.written, first.deleted, first.replaced) == (
        "gold.f", 1, 1, 0, True)
    again = publish(store, "gold.f", ["k"], "ts", 1, lambda v, t: frames[v])
    assert again == PublishReport("gold.f", 1, 0, 0, False, first.published_at)
    store.close()


def test_publish_stores_rows_in_time_order_and_rewrites_the_store_when_its_schema_changes(
    tmp_path: Path,
) -> None:
    """Key 1's rows stored out of time order; version 2 only adds a version (nothing to write);
    version 3 adds a column and drops key 2: the store is rewritten whole, key 2 leaves."""
    v1 = pl.DataFrame({"k": [1, 2, 1], "v": [12, 20, 10], "ts": [T0 + HOUR, T0, T0]})
    frames = {1: v1, 2: v1, 3: v1.filter(pl.col("k") == 1).with_columns(w=pl.lit(0))}
    store = SQLiteStore(tmp_path / "online")
    publish(store, "gold.f", ["k"], "ts", 1, lambda v, t: frames[v])
    snap, (one,) = store.read("gold.f", ['{"k":1}'])
    assert snap is not None
    assert snap.decode([one], pl.Series([T0, T0 + HOUR]).head(1))["v"].to_list() == [10]
    assert publish(store, "gold.f", ["k"], "ts", 2, lambda v, t: frames[v],
                   lambda since: v1.head(0).select("k")).written == 0  # no row changed
    report = publish(store, "gold.f", ["k"], "ts", 3, lambda v, t: frames[v])
    assert (report.written, report.replaced) == (1, True)
    assert store.read("gold.f", ['{"k":1}', '{"k":2}'])[1][1] is None
    store.close()


@pytest.mark.parametrize("dtype", [pl.Int64, pl.UInt8, pl.Boolean])
def test_integer_and_boolean_keys_are_encoded_without_building_a_frame(dtype: pl.DataType
                                                                       ) -> None:
    """`KeyBatch.of_values` encodes integer and boolean keys in Python: reading `encoded`
    builds no frame (the frame is built only when a reader asks for it)."""
    schema = pl.Schema({"cid": dtype})
    columns = {"cid": [True, None] if dtype == pl.Boolean else [1, None]}
    batch = KeyBatch.of_values(columns, schema)
    assert batch.encoded == (['{"cid":true}', '{"cid":null}'] if dtype == pl.Boolean
                             else ['{"cid":1}', '{"cid":null}'])
    assert "frame" not in vars(batch)


def test_a_reader_asks_the_store_for_a_table_s_snapshot_only_the_first_time(
    reader: OnlineReader,
) -> None:
    """The snapshot is remembered: a later publication is not seen by `snapshot()` (a read
    notices it through the store's answer instead)."""
    first = reader.snapshot("gold.t")
    assert first.version == 1
    later = Snapshot(2, first.keys, first.schema, first.timeseries, first.published_at)
    reader.store.write("gold.t", later, [], [], [], replace=False)
    assert reader.store.snapshot("gold.t") == later
    assert reader.snapshot("gold.t") is first


def test_a_column_that_cannot_be_stored_online_is_refused_by_name() -> None:
    frame = pl.DataFrame({"cid": [1], "tags": [[1, 2]]})
    with pytest.raises(FeatureStoreError) as refused:
        encode_grouped(frame, ["cid"], None)
    assert str(refused.value) == "column 'tags' of type List(Int64) cannot be stored online"
