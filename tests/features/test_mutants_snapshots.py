"""`refresh_feature_table`'s bookkeeping, as `make mutation` (group feature-snapshots) mutates it:
what a created feature table registers (description, tags, owner, its timestamp as partition
column, feature descriptions), what a stateful builder is given (its inputs, days, the state it
may start from, the day to keep its state as of), when its state is written and started from,
the `first_day` bound, what the report carries, a redo in a zone east of UTC, and what
`check_stamps` names. Real Delta tables and online store in a temporary lakehouse, no Dagster
(the builders of the churn domain against a stateless twin: test_incremental_snapshots.py)."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import polars as pl
import pytest
from deltalake import DeltaTable

from lakehouse_ml.catalog import TableInfo
from lakehouse_ml.features import FeatureEngineeringClient, state
from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.snapshots import (
    AS_OF,
    Held,
    check_stamps,
    held_snapshots,
    refresh_feature_table,
)
from lakehouse_ml.features.state import STATE_AS_OF, Carried, StatefulBuild
from lakehouse_ml.features.timestamps import snapshot_time
from lakehouse_ml.medallion.spec import Feature, FeatureTableSpec

TABLE, INPUT = "gold.kept", "silver.seen"
START = date(2026, 3, 1)
DAY = timedelta(days=1)


def day(i: int) -> date:
    return START + i * DAY


def parts(*indices: int) -> list[str]:
    return [day(i).isoformat() for i in indices]


@pytest.fixture
def seen(fe: FeatureEngineeringClient) -> FeatureEngineeringClient:
    """`fe` with an input table of 3 rows."""
    rows = pl.DataFrame({"k": [1, 2, 2]}, schema={"k": pl.Int64})
    fe.catalog.create_table(INPUT, rows.schema, TableInfo(owner="team:data"))
    fe.catalog.overwrite(INPUT, rows)
    return fe


def snapshots(days, zone: str, inputs) -> pl.LazyFrame:
    """Keys 1 and 2 on each of `days`, v = the day of month * 10 + the rows of `INPUT`."""
    n = inputs[INPUT].select(pl.len()).collect().item()
    rows = [(k, snapshot_time(d, zone), d.day * 10 + n + k) for d in days for k in (1, 2)]
    return pl.LazyFrame(rows, schema={"k": pl.Int64, "ts": pl.Datetime("us", "UTC"),
                                      "v": pl.Int64}, orient="row")


def table_spec(build, zone: str = "UTC", lateness: int = 1) -> FeatureTableSpec:
    return FeatureTableSpec(
        name="kept", description="Counts kept.", entity_keys=("k",), timestamp_key="ts",
        inputs=(INPUT,), build=build, time_zone=zone, max_lateness_days=lateness,
        features=(Feature("v", "the day and the input's rows", ()),),
        tags={"domain": "tests"}, owner="team:features")


def stateful(calls: list) -> StatefulBuild:
    """Records (its input tables, days, the day of the state given, the day to keep) and keeps
    a one-row state as of that day."""
    def build(inputs, days, carried, keep):
        calls.append((sorted(inputs), list(days), carried and carried.as_of, keep))
        kept = Carried(pl.LazyFrame({"k": [1], "n": [len(days)]}), keep)
        return snapshots(days, "UTC", inputs), kept
    return StatefulBuild(build, "one row per day counted", keep_every=2)


def stored_state(fe: FeatureEngineeringClient) -> tuple[date | None, int]:
    rows = fe.catalog.read(state.state_table(TABLE))
    return (rows[STATE_AS_OF].max(), rows.height) if rows.height else (None, 0)


def test_a_stateful_builder_is_given_its_inputs_days_state_and_keep_day(seen):
    calls: list = []
    spec = table_spec(stateful(calls))
    report = refresh_feature_table(seen, spec, parts(0, 1, 2, 3, 4), chunk_days=2)
    keep = [day(2) - 3 * DAY, day(4) - 3 * DAY, day(5) - 3 * DAY]  # lateness 1: last - 3 days
    assert calls == [([INPUT], [day(1), day(2)], None, keep[0]),
                     ([INPUT], [day(3), day(4)], keep[0], keep[1]),  # the state just written
                     ([INPUT], [day(5)], keep[1], keep[2])]
    # keep_every 2: written as of keep[0], then keep[1] (2 days newer), not keep[2] (1 day)
    assert stored_state(seen) == (keep[1], 1)
    registered = seen.catalog.describe(state.state_table(TABLE)).info
    assert registered.owner == "team:features" and "one row per day counted" in registered.comment
    assert report.rows_written == 10 and report.version == seen.catalog.version(TABLE)
    assert report.published.written == 2  # keys 1 and 2, published once
    assert report.statistics.table().height == 1
    values = seen.read_table(TABLE).sort("ts", "k")["v"].to_list()
    assert values == [day(i).day * 10 + 3 + k for i in range(1, 6) for k in (1, 2)]

    # the next refresh starts from the stored state and writes a newer one when it is due
    calls.clear()
    refresh_feature_table(seen, spec, parts(5))
    assert calls == [([INPUT], [day(6)], keep[1], day(6) - 3 * DAY)]
    assert stored_state(seen) == (day(6) - 3 * DAY, 1)

    # late data of a day the state holds: the state is deleted and the days redone without it
    calls.clear()
    refresh_feature_table(seen, spec, parts(6), earliest_touched=day(2))
    assert calls == [([INPUT], [day(i) for i in range(3, 8)], None, day(7) - 3 * DAY)]
    assert stored_state(seen) == (day(7) - 3 * DAY, 1)


def test_a_plain_builder_reads_its_inputs_and_leaves_a_state_table_alone(seen):
    state.write(seen.catalog, TABLE, Carried(pl.LazyFrame({"k": [1]}), day(3)), "old", "team:x")
    spec = table_spec(lambda inputs, days: snapshots(days, "UTC", inputs))
    refresh_feature_table(seen, spec, parts(1))  # snapshot of day 2 held
    assert refresh_feature_table(seen, spec, parts(5), earliest_touched=day(1)).days == [
        day(i) for i in range(2, 7)]
    assert stored_state(seen) == (day(3), 1)  # not the plain builder's: not started nor deleted
    assert seen.read_table(TABLE).sort("ts", "k")["v"].to_list() == [
        day(i).day * 10 + 3 + k for i in range(2, 7) for k in (1, 2)]


def test_late_data_redo_no_snapshot_before_the_first_day(seen):
    spec = table_spec(lambda inputs, days: snapshots(days, "UTC", inputs))
    refresh_feature_table(seen, spec, parts(0, 1, 2, 3))  # snapshots of days 1..4 held
    report = refresh_feature_table(seen, spec, parts(4), earliest_touched=day(0),
                                   first_day=day(3))
    assert report.days == [day(3), day(4), day(5)]


def test_a_created_table_registers_what_its_spec_declares(seen):
    spec = table_spec(lambda inputs, days: snapshots(days, "UTC", inputs))
    refresh_feature_table(seen, spec, parts(0, 1))
    table = seen.get_table(TABLE)
    assert table.description == "Counts kept." and table.tags == {"domain": "tests"}
    assert {f.name: f.description for f in table.features} == {
        "v": "the day and the input's rows", AS_OF: "when the snapshot was taken"}
    registered = seen.catalog.describe(TABLE)
    assert registered.info.owner == "team:features"
    assert DeltaTable(registered.location).metadata().partition_columns == ["ts"]


def test_a_redo_east_of_utc_replaces_exactly_its_days(seen):
    zone = "Asia/Tokyo"  # a day's stamp (00:00 local) is 15:00 UTC the day before
    spec = table_spec(lambda inputs, days: snapshots(days, zone, inputs), zone=zone)
    refresh_feature_table(seen, spec, parts(0, 1, 2, 3))
    refresh_feature_table(seen, spec, parts(3), earliest_touched=day(1))  # redoes days 2..4
    stamps = seen.read_table(TABLE).group_by("ts").len().sort("ts")
    assert stamps["ts"].to_list() == [snapshot_time(day(i), zone) for i in range(1, 5)]
    assert stamps["len"].to_list() == [2, 2, 2, 2]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo"])  # Tokyo: stamps the UTC day before
@pytest.mark.parametrize("partitioned", [True, False])
def test_held_snapshots_are_the_first_and_last_days_in_the_tables_zone(seen, zone, partitioned):
    spec = table_spec(lambda inputs, days: snapshots(days, zone, inputs), zone=zone)
    assert held_snapshots(seen, spec) is None  # no table yet
    if not partitioned:  # a table made elsewhere, not partitioned by its timestamp
        seen.create_table(TABLE, ["k"], schema=snapshots([], zone, {INPUT: pl.LazyFrame()})
                          .with_columns(pl.col("ts").alias(AS_OF)).collect_schema(),
                          timeseries_column="ts")
    refresh_feature_table(seen, spec, [])  # an empty range: the table, no rows
    assert seen.catalog.exists(TABLE) and held_snapshots(seen, spec) is None
    assert ("ts" in seen.catalog.partitioned_by(TABLE)) is partitioned
    refresh_feature_table(seen, spec, parts(2, 3, 4))  # snapshots of days 3..5
    assert held_snapshots(seen, spec) == Held(day(3), day(5))


def test_a_refresh_of_an_older_day_redoes_up_to_the_latest_held_and_fills_gaps(seen):
    spec = table_spec(lambda inputs, days: snapshots(days, "UTC", inputs))
    # none held: late data create no snapshot before the run's first
    assert refresh_feature_table(seen, spec, parts(2, 3, 4, 5), earliest_touched=day(-30)
                                 ).days == [day(i) for i in range(3, 7)]
    refresh_feature_table(seen, spec, parts(0, 1))  # snapshots of days 1..6 held
    # late data of day 2 with a refresh of day 2 (landed again): every later snapshot held
    assert refresh_feature_table(seen, spec, parts(2), earliest_touched=day(2)).days == [
        day(i) for i in range(3, 7)]
    # older than the first held: from it
    assert refresh_feature_table(seen, spec, parts(4), earliest_touched=day(-9)).days == [
        day(i) for i in range(1, 7)]
    # no data changed: its own snapshot only
    assert refresh_feature_table(seen, spec, parts(2)).days == [day(3)]
    # days 6..8 built nothing (nothing landed): a refresh of day 9 builds their snapshots too
    assert refresh_feature_table(seen, spec, parts(9)).days == [day(i) for i in range(7, 11)]


def test_check_stamps_names_the_count_the_wrong_stamp_and_the_nearest_right_one():
    spec = table_spec(lambda inputs, days: snapshots(days, "UTC", inputs))
    days = [day(1), day(2), day(3)]
    wrong = snapshot_time(day(2), "UTC") + timedelta(hours=5)
    frame = pl.DataFrame({"ts": [snapshot_time(day(1), "UTC"), wrong, wrong]},
                         schema={"ts": pl.Datetime("us", "UTC")})
    with pytest.raises(FeatureStoreError) as raised:
        check_stamps(spec, days, frame)
    message = str(raised.value)
    assert f"2 snapshot row(s) stamped {wrong.isoformat()}" in message
    right = snapshot_time(day(2), "UTC")
    assert f"the snapshot of {day(2)} is stamped {right.astimezone(UTC).isoformat()}" in message
