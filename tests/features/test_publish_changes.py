"""Publishing reads the table once, at its new version: which keys changed comes from the
commits since the held publication (issue 15: "publishing reads only what changed")."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.online import SQLiteStore, publish, rows_to_publish

SCHEMA = {"cid": pl.Int64, "ts": pl.Datetime("us", "UTC"), "score": pl.Float64}


def rows(cids: list[int], ts: datetime, score: float) -> pl.DataFrame:
    return pl.DataFrame({"cid": cids, "ts": [ts] * len(cids), "score": [score] * len(cids)},
                        schema=SCHEMA)


def online_equals_offline(fe: FeatureEngineeringClient, cids: list[int]) -> None:
    now = datetime.now(UTC)
    latest = (fe.read_table("gold.f").filter(pl.col("ts") <= now).sort("ts")
              .unique("cid", keep="last"))
    offline = pl.DataFrame({"cid": cids}).join(latest, on="cid", how="left")  # unknown: nulls
    assert_frame_equal(fe.get_online_features("gold.f", cids), offline)


def test_a_key_no_commit_touched_is_not_rewritten_when_its_future_row_becomes_past(
        fe: FeatureEngineeringClient) -> None:
    """Key 1 has a row stamped 2 s ahead: after those 2 s its published rows are no longer
    minimal, but they are still exact for every lookup from now on; a commit touching only
    key 2 writes key 2 alone (recomputing the held version's rows, as before, rewrote key 1
    too)."""
    ahead = datetime.now(UTC) + timedelta(seconds=2)
    past = datetime(2026, 1, 1, tzinfo=UTC)
    fe.create_table("gold.f", "cid", timeseries_column="ts",
                    df=pl.concat([rows([1, 2], past, 1.0), rows([1], ahead, 2.0)]))
    assert fe.publish_table("gold.f").written == 2
    time.sleep(max(0.0, (ahead - datetime.now(UTC)).total_seconds()) + 0.1)
    fe.write_table("gold.f", rows([2], past + timedelta(days=1), 3.0))
    report = fe.publish_table("gold.f")
    assert (report.written, report.deleted, report.replaced) == (1, 0, False)
    online_equals_offline(fe, [1, 2])


def test_a_publication_after_the_held_version_was_vacuumed_rewrites_the_store_whole(
        fe: FeatureEngineeringClient) -> None:
    """The held version's replaced files are gone (VACUUM): the change record can no longer
    say which keys they held, so the store is rewritten from the new version alone (reading
    the held version, as before, failed)."""
    day = datetime(2026, 1, 1, tzinfo=UTC)
    fe.create_table("gold.f", "cid", timeseries_column="ts", df=rows([1, 2, 3], day, 1.0))
    fe.publish_table("gold.f")
    fe.catalog.overwrite("gold.f", rows([1, 2], day, 5.0))  # key 3 gone, 1 and 2 changed
    fe.catalog.vacuum("gold.f", 0, enforce_retention_duration=False)
    report = fe.publish_table("gold.f")
    assert (report.written, report.replaced) == (2, True)
    online_equals_offline(fe, [1, 2, 3])


def test_a_publication_that_replaced_the_held_one_meanwhile_makes_this_one_rewrite_whole(
        tmp_path: Path) -> None:
    """Another publisher replaces the held publication between this one's read of it and
    its comparison (provoked from inside the change record's callback): comparing with the
    store would mix two publications, so this one rewrites the store whole."""
    store = SQLiteStore(tmp_path / "online")
    v1 = rows([1, 2], datetime(2026, 1, 1, tzinfo=UTC), 1.0)
    v3 = rows([1], datetime(2026, 1, 2, tzinfo=UTC), 3.0)
    assert publish(store, "gold.f", ["cid"], "ts", 1, lambda v, t: v1).replaced

    def meanwhile(since: int) -> pl.DataFrame:
        assert since == 1
        publish(store, "gold.f", ["cid"], "ts", 2, lambda v, t: v1)  # replaces the snapshot
        return v3.select("cid")

    report = publish(store, "gold.f", ["cid"], "ts", 3, lambda v, t: v3, meanwhile)
    assert (report.written, report.replaced) == (1, True)
    assert store.read("gold.f", ['{"cid":1}', '{"cid":2}'])[1][1] is None  # key 2 left
    store.close()


def test_the_rows_of_some_keys_are_the_whole_publication_s_rows_of_those_keys() -> None:
    """Key 1 has a row at the newest time, key 2 only an older one (looked for in the rest of
    the table), key 3 only a row ahead of the publication, key 4 rows before and after it,
    key 5 none; keys asked as Int32 are matched with the table's Int64 keys."""
    day, now = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 10, tzinfo=UTC)
    table = pl.concat([
        rows([1, 2, 4], day, 1.0), rows([1, 4, 6], day + timedelta(days=2), 2.0),
        rows([3, 4, 6], now + timedelta(days=1), 3.0), rows([4], now + timedelta(days=2), 4.0),
    ]).lazy()
    whole = rows_to_publish(table, ["cid"], "ts", now)
    asked = pl.DataFrame({"cid": [1, 2, 3, 4, 5, 1]}, schema={"cid": pl.Int32})
    some = rows_to_publish(table, ["cid"], "ts", now, only=asked)
    expected = whole.filter(pl.col("cid").is_in([1, 2, 3, 4, 5]))
    assert_frame_equal(some.sort("cid", "ts"), expected.sort("cid", "ts"))
    assert some.height == 6  # 1 and 2 their latest, 3 its row ahead, 4 its latest and 2 ahead
    nothing_past = table.filter(pl.col("ts") > now)
    assert_frame_equal(rows_to_publish(nothing_past, ["cid"], "ts", now, only=asked)
                       .sort("cid", "ts"),
                       nothing_past.filter(pl.col("cid") != 6).collect().sort("cid", "ts"))
    assert_frame_equal(rows_to_publish(table, ["cid"], None, now, only=asked).sort("cid", "ts"),
                       table.filter(pl.col("cid") < 6).collect().sort("cid", "ts"))


def test_a_day_s_snapshots_replaced_publish_the_touched_keys_latest_rows_key_by_key(
        fe: FeatureEngineeringClient) -> None:
    """A snapshot table partitioned by day: redoing the newest day drops key 2's row there
    (its latest is now the day before's) and key 3's rows everywhere. The update reads the
    touched keys' rows, writes keys 1, 2 and 4 and deletes key 3: online equals offline."""
    day = datetime(2026, 1, 1, tzinfo=UTC)
    fe.create_table("gold.f", "cid", timeseries_column="ts", schema=SCHEMA,
                    partition_columns=["ts"])
    for i in range(3):
        fe.write_table("gold.f", rows([1, 2, 4], day + timedelta(days=i), float(i)))
    fe.write_table("gold.f", rows([3], day + timedelta(days=2), 9.0))
    assert fe.publish_table("gold.f").written == 4
    newest = day + timedelta(days=2)
    fe.replace_time_range("gold.f", rows([1, 4], newest, 5.0), newest, newest + timedelta(1))
    fe.catalog.delete("gold.f", "cid = 3")
    report = fe.publish_table("gold.f")
    assert (report.written, report.deleted, report.replaced) == (3, 1, False)
    online_equals_offline(fe, [1, 2, 3, 4])
    assert fe.get_online_features("gold.f", [2])["score"].to_list() == [1.0]
