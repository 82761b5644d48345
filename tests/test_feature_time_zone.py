"""Feature snapshots in the time zone of the days they sum (stranger re-test of issue 11,
finding 4): New York's day D - 1 ends at D 05:00 UTC, so a snapshot of D stamped D 00:00 UTC
summed up to 5 hours after its stamp, and a label at D 01:00 UTC saw crossings after itself
while `no_label_leakage` passed. The snapshot of day D is stamped D 00:00 in the table's zone;
the engine refuses any other stamp, and a zone other than its aggregates' at declaration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest
from pandera.engines import polars_engine as pe

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import (
    FeatureEngineeringClient,
    FeatureLookup,
    FeatureStoreError,
    snapshot_stamps,
    snapshot_time,
)
from lakehouse_ml.features.snapshots import refresh_feature_table, unbuilt
from lakehouse_ml.medallion.spec import (
    Aggregate,
    Domain,
    Feature,
    FeatureTableSpec,
    Source,
    TrainingSetSpec,
)
from tests.conftest import materialize
from tests.test_gold_time_zone import land

ZONE = "America/New_York"
LABEL_AT = datetime(2026, 11, 30, 1, tzinfo=UTC)  # 2026-11-29 20:00 in New York
UTC_TIME = {"time_zone": "UTC"}


class CrossingContract(pa.DataFrameModel):
    crossing_id: str = pa.Field()
    vessel: str = pa.Field()
    departed_at: pe.DateTime = pa.Field(dtype_kwargs=UTC_TIME)


class CheckContract(pa.DataFrameModel):
    vessel: str = pa.Field()
    checked_at: pe.DateTime = pa.Field(dtype_kwargs=UTC_TIME)
    delayed: bool = pa.Field()


def vessel_days(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    day = pl.col("departed_at").dt.convert_time_zone(ZONE).dt.date().alias("day")
    return silver["crossings"].group_by("vessel", day).agg(pl.len().alias("crossings"))


def _week(gold: Mapping[str, pl.LazyFrame], days: Sequence[date], stamp: pl.Expr
          ) -> pl.LazyFrame:
    """README's `device_health`: the snapshot of D sums the 7 local days before D."""
    week_after = pl.date_ranges(pl.col("day") + timedelta(days=1),
                                pl.col("day") + timedelta(days=7))
    return (gold["gold.vessel_days"].with_columns(week_after.alias("snapshot"))
            .explode("snapshot").filter(pl.col("snapshot").is_in(list(days)))
            .group_by("vessel", "snapshot").agg(pl.col("crossings").sum().alias("crossings_7d"))
            .select("vessel", stamp.alias("feature_ts"), "crossings_7d"))


def vessel_week(gold: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    return _week(gold, days, snapshot_stamps("snapshot", days, ZONE))


def stamped_at_utc_midnight(gold: Mapping[str, pl.LazyFrame], days: Sequence[date]
                            ) -> pl.LazyFrame:
    """The README's pattern before the fix: D 00:00 UTC, whatever the days' zone."""
    return _week(gold, days, pl.col("snapshot").cast(pl.Datetime("us", "UTC")))


AGGREGATE = Aggregate(name="vessel_days", description="Crossings per vessel and NY day.",
                      inputs=("crossings",), build=vessel_days, day_column="day",
                      primary_key=("vessel", "day"), time_zone=ZONE)
WEEK = FeatureTableSpec(
    name="vessel_week", description="Crossings over the 7 NY days before.",
    entity_keys=("vessel",), timestamp_key="feature_ts", inputs=("gold.vessel_days",),
    build=vessel_week, features=(Feature("crossings_7d", "crossings, 7 days before",
                                         (("gold.vessel_days", "crossings"),)),))
TRAINING_SET = TrainingSetSpec(
    name="transit.training_set", description="Checks with the vessel's week before.",
    labels="silver.checks", label="delayed", time_column="checked_at",
    feature_lookups=(FeatureLookup("gold.vessel_week", lookup_key="vessel",
                                   timestamp_lookup_key="checked_at"),))
FERRY = Domain(
    name="ferry", description="Ferries.", start_date=date(2026, 11, 28),
    sources=(Source(name="crossings", format="jsonl", contract=CrossingContract,
                    primary_key=("crossing_id",), event_time="departed_at",
                    description="Departures."),
             Source(name="checks", format="jsonl", contract=CheckContract,
                    primary_key=("vessel", "checked_at"), event_time="checked_at",
                    description="Delay checks.")),
    aggregates=(AGGREGATE,), feature_tables=(WEEK,), training_set=TRAINING_SET)

CROSSINGS = {  # UTC landing day -> (crossing, departure in UTC)
    "2026-11-28": [("c1", "2026-11-28T12:00:00Z")],   # 11-28 07:00 New York
    "2026-11-29": [("c2", "2026-11-29T03:00:00Z"),    # 11-28 22:00
                   ("c3", "2026-11-29T15:00:00Z")],   # 11-29 10:00
    "2026-11-30": [("c4", "2026-11-30T04:30:00Z"),    # 11-29 23:30: after the label
                   ("c5", "2026-11-30T06:00:00Z")],   # 11-30 01:00
}


def test_the_zone_of_a_feature_table_is_its_aggregates_and_no_other() -> None:
    assert FERRY.feature_tables[0].time_zone == ZONE  # undeclared: its aggregate's
    with pytest.raises(ValueError, match=r"domain 'ferry': feature table 'vessel_week' "
                       r"declares time_zone 'UTC' but reads aggregate 'vessel_days' "
                       r"\(gold.vessel_days\) of time_zone 'America/New_York'"):
        replace(FERRY, feature_tables=(replace(WEEK, time_zone="UTC"),))
    assert snapshot_time(date(2026, 11, 30), ZONE) == datetime(2026, 11, 30, 5, tzinfo=UTC)
    assert snapshot_time(date(2026, 3, 9), ZONE) == datetime(2026, 3, 9, 4, tzinfo=UTC)  # EDT
    assert snapshot_time(date(2026, 11, 30), "Asia/Tokyo") == datetime(2026, 11, 29, 15,
                                                                       tzinfo=UTC)


def test_a_label_after_local_midnight_sees_no_later_crossing(tmp_path, settings: Settings
                                                             ) -> None:
    landing = tmp_path / "landing"
    for day, rows in CROSSINGS.items():
        land(landing, "crossings", day, [{"crossing_id": c, "vessel": "v0", "departed_at": at}
                                         for c, at in rows])
    land(landing, "checks", "2026-11-30", [{"vessel": "v0", "checked_at": LABEL_AT.isoformat(),
                                            "delayed": True}])
    assert materialize(settings, list(CROSSINGS), domain=FERRY).success
    client = FeatureEngineeringClient(Catalog(settings.root, settings.env))
    # the days whose snapshot a run must still build: found by their New York stamps
    beyond = (date.fromisoformat(max(CROSSINGS)) + timedelta(days=1)).isoformat()
    assert unbuilt(client, FERRY.feature_tables[0], [*CROSSINGS, beyond]) == [beyond]

    # the old stamping of the same sums is refused, naming the table and the stamp expected
    old = replace(FERRY.feature_tables[0], build=stamped_at_utc_midnight)
    with pytest.raises(FeatureStoreError, match=(
            r"feature table gold.vessel_week: 1 snapshot row\(s\) stamped "
            r"2026-11-30T00:00:00\+00:00, .* America/New_York: the snapshot of 2026-11-30 is "
            r"stamped 2026-11-30T05:00:00\+00:00 .* Nothing was written")):
        refresh_feature_table(client, old, ["2026-11-29"])

    trained = dg.materialize([training_set_asset(TRAINING_SET, FERRY)],
                             resources={"lakehouse": LakehouseResource.from_settings(settings)})
    [check] = trained.get_asset_check_evaluations()
    assert check.check_name == "no_label_leakage" and check.passed
    row = client.catalog.read("transit.training_set").row(0, named=True)
    snapshot = row["snapshot_at"]
    # the snapshot of 11-29 (stamped 11-29 05:00 UTC) sums New York's 11-28: c1 and c2;
    # c4 (11-30 04:30 UTC, 3.5 h after the label) is on 11-29 and not in it
    assert snapshot == snapshot_time(date(2026, 11, 29), ZONE) <= LABEL_AT
    before = [c for rows in CROSSINGS.values() for c, at in rows
              if datetime.fromisoformat(at) < snapshot]
    assert row["crossings_7d"] == len(before) == 2
