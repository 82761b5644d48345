"""Gold days in the aggregate's time zone: a local day D is [D 00:00, D+1 00:00) local time
(23 or 25 hours on a DST change); day-by-day runs (one UTC partition at a time) give the same
gold table as one backfill, and each event counts on its local day."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pandera.engines import polars_engine as pe

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion import gold as gold_module
from lakehouse_ml.medallion.changes import earliest_touched_day
from lakehouse_ml.medallion.days import day_of, span
from lakehouse_ml.medallion.gold import build_aggregate
from lakehouse_ml.medallion.silver import refine
from lakehouse_ml.medallion.spec import Aggregate, Domain, Expectation, Source
from tests.conftest import materialize

ZONE = "America/New_York"


class TripContract(pa.DataFrameModel):
    trip_id: str = pa.Field()
    origin: str = pa.Field()
    departed_at: pe.DateTime = pa.Field(dtype_kwargs={"time_zone": "UTC"})


def trips_per_day(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    day = pl.col("departed_at").dt.convert_time_zone(ZONE).dt.date().alias("day")
    return silver["trips"].group_by("origin", day).agg(pl.len().cast(pl.Int64).alias("trips"))


TRIPS = Domain(
    name="transit", description="Trips.", start_date=date(2026, 3, 1),
    sources=(Source(name="trips", format="jsonl", contract=TripContract,
                    primary_key=("trip_id",), event_time="departed_at",
                    event_time_immutable=True, description="Trip departures."),),
    aggregates=(Aggregate(
        name="trips_per_day", description="Departures per origin and New York day.",
        inputs=("trips",), build=trips_per_day, day_column="day", time_zone=ZONE,
        primary_key=("origin", "day"),
        expectations=(Expectation("expect_column_values_to_be_between", column="trips",
                                  min_value=1),),
    ),),
)

LANDED = {  # UTC partition day -> (trip, origin, departure in UTC), in arrival order
    "2026-03-08": [("t1", "A", "2026-03-08T04:59:00Z"),   # 03-07 23:59 EST
                   ("t2", "A", "2026-03-08T05:00:00Z"),   # 03-08 00:00 EST (a 23-hour day)
                   ("t3", "B", "2026-03-08T07:30:00Z")],  # 03-08 03:30 EDT
    "2026-03-09": [("t4", "A", "2026-03-09T03:59:00Z"),   # 03-08 23:59 EDT
                   ("t5", "A", "2026-03-09T04:00:00Z"),   # 03-09 00:00 EDT
                   ("t6", "B", "2026-03-08T02:00:00Z"),   # late: 03-07 21:00 EST
                   ("t7", "B", "2026-03-07T04:30:00Z")],  # late: 03-06 23:30 EST
    "2026-03-10": [("t8", "A", "2026-03-10T03:30:00Z"),   # 03-09 23:30 EDT
                   ("t9", "A", "2026-03-10T04:30:00Z"),   # 03-10 00:30 EDT
                   ("t1", "B", "2026-03-10T04:45:00Z")],  # t1 corrected: leaves 03-07
}

LOCAL_DAYS = [  # (origin, New York day, trips)
    ("B", date(2026, 3, 6), 1),
    ("B", date(2026, 3, 7), 1),
    ("A", date(2026, 3, 8), 2), ("B", date(2026, 3, 8), 1),
    ("A", date(2026, 3, 9), 2),
    ("A", date(2026, 3, 10), 1), ("B", date(2026, 3, 10), 1),
]


def land(landing: Path, source: str, day: str, rows: list[dict[str, str]]) -> None:
    folder = landing / source / day
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def lakehouse(tmp_path: Path, name: str, landing: Path) -> Settings:
    return Settings(root=str(tmp_path / name), landing=str(landing), env="dev",
                    mlflow_tracking_uri=f"sqlite:///{tmp_path / name}.db")


def gold(settings: Settings) -> pl.DataFrame:
    return Catalog(settings.root, settings.env).read("gold.trips_per_day").sort("day", "origin")


def test_local_days_are_equal_day_by_day_and_in_one_backfill(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for day, trips in LANDED.items():
        land(landing, "trips", day, [{"trip_id": t, "origin": o, "departed_at": at}
                                     for t, o, at in trips])
    daily, backfill = (lakehouse(tmp_path, name, landing) for name in ("daily", "backfill"))

    for day in LANDED:
        assert materialize(daily, [day], domain=TRIPS).success
    assert materialize(backfill, list(LANDED), domain=TRIPS).success

    assert gold(daily).equals(gold(backfill))
    # 2026-03-10T03:30Z is 23:30 on 03-09 in New York: it counts on local day 2026-03-09
    assert gold(daily).select("origin", "day", "trips").rows() == LOCAL_DAYS


def test_gold_is_written_in_row_groups_of_at_most_row_group_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Feature builders read a gold table one range of keys at a time: its files' row groups
    are capped (`lake.ROW_GROUP_ROWS`, two here) so such a read decodes only its range's."""
    monkeypatch.setattr(gold_module, "ROW_GROUP_ROWS", 2)
    landing = tmp_path / "landing"
    day, trips = next(iter(LANDED.items()))
    land(landing, "trips", day, [{"trip_id": t, "origin": o, "departed_at": at}
                                 for t, o, at in trips])
    settings = lakehouse(tmp_path, "lake", landing)
    assert materialize(settings, [day], domain=TRIPS).success
    files = DeltaTable(Catalog(settings.root, settings.env).location("gold.trips_per_day"))
    assert [pq.read_metadata(f).num_row_groups for f in files.file_uris()] == [2]  # 3 rows


def test_an_unknown_time_zone_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match=r"aggregate 'trips_per_day': time_zone "
                       r"'america/new_york' is not an IANA time zone name"):
        Aggregate(name="trips_per_day", description="", inputs=("trips",),
                  build=trips_per_day, day_column="day", primary_key=("origin", "day"),
                  time_zone="america/new_york")


def local_days(zone: str, year: int) -> pl.DataFrame:
    """Per local day of `year` in `zone`: its first and last instant on a 15-minute grid."""
    grid = pl.datetime_range(datetime(year - 1, 12, 30, tzinfo=UTC),
                             datetime(year + 1, 1, 2, tzinfo=UTC), "15m", eager=True,
                             time_zone="UTC").alias("at")
    return (grid.to_frame().group_by(day_of("at", grid.dtype, zone).alias("day"))
            .agg(pl.col("at").min().alias("first"), pl.col("at").max().alias("last"))
            .filter(pl.col("day").dt.year() == year).sort("day"))


def test_a_local_day_spans_23_to_25_hours_and_its_span_covers_it() -> None:
    assert span([date(2026, 3, 8)], ZONE) == (datetime(2026, 3, 8, 5, tzinfo=UTC),
                                             datetime(2026, 3, 9, 4, tzinfo=UTC))
    assert span([date(2026, 11, 1)], ZONE) == (datetime(2026, 11, 1, 4, tzinfo=UTC),
                                              datetime(2026, 11, 2, 5, tzinfo=UTC))
    quarter = timedelta(minutes=15)
    for day, first, last in local_days(ZONE, 2026).iter_rows():
        assert span([day], ZONE) == (first, last + quarter), day
    # clocks that jump at midnight (Havana), or back across it (St. John's, 1987-10-25 00:01
    # → 10-24 23:01: day 10-24 resumes after the first midnight): wider, never shorter
    for zone, year in (("America/Havana", 2026), ("America/St_Johns", 1987)):
        for day, first, last in local_days(zone, year).iter_rows():
            start, end = span([day], zone)
            assert start <= first and last < end <= last + timedelta(hours=1, minutes=15), day


class TicketContract(pa.DataFrameModel):
    ticket_id: str = pa.Field()
    travel_date: date = pa.Field()


def tickets_per_day(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    return silver["tickets"].group_by("travel_date").agg(pl.len().cast(pl.Int64).alias("tickets"))


def test_an_event_date_is_its_own_day_in_any_time_zone(tmp_path: Path) -> None:
    tickets = Source(name="tickets", format="jsonl", contract=TicketContract,
                     primary_key=("ticket_id",), event_time="travel_date", description="Tickets.")
    per_day = Aggregate(name="tickets_per_day", description="Tickets per travel date.",
                        inputs=("tickets",), build=tickets_per_day, day_column="travel_date",
                        primary_key=("travel_date",), time_zone=ZONE)
    domain = Domain(name="fares", description="Fares.", start_date=date(2026, 3, 1),
                    sources=(tickets,), aggregates=(per_day,))
    land(tmp_path / "landing", "tickets", "2026-03-08", [
        {"ticket_id": "k1", "travel_date": "2026-03-08"},
        {"ticket_id": "k2", "travel_date": "2026-03-08"},
        {"ticket_id": "k3", "travel_date": "2026-03-09"}])
    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    ingest(catalog, tickets, str(tmp_path / "landing"), ["2026-03-08"])
    refine(catalog, tickets, ["2026-03-08"])
    report = build_aggregate(catalog, domain, per_day, ["2026-03-08"])
    assert report.days == [date(2026, 3, 8), date(2026, 3, 9)]
    assert catalog.read(per_day.table).sort("travel_date").rows() == [
        (date(2026, 3, 8), 2), (date(2026, 3, 9), 1)]


def test_feature_snapshots_redo_from_the_earliest_local_day_touched(tmp_path: Path) -> None:
    landing, catalog = tmp_path / "landing", Catalog(str(tmp_path / "lakehouse"), "dev")
    source, utc_only = TRIPS.sources[0], replace(TRIPS, aggregates=())
    for day, trip, at in (("2026-03-08", "t4", "2026-03-08T04:59:00Z"),   # 03-07 23:59 EST
                          ("2026-03-10", "t10", "2026-03-10T03:30:00Z"),  # 03-09 23:30 EDT
                          ("2026-03-11", "t4", "2026-03-11T12:00:00Z")):  # t4 leaves 03-07
        land(landing, "trips", day, [{"trip_id": trip, "origin": "A", "departed_at": at}])
        ingest(catalog, source, str(landing), [day])
        refine(catalog, source, [day])
    assert earliest_touched_day(catalog, TRIPS, ["2026-03-10"]) == date(2026, 3, 9)
    assert earliest_touched_day(catalog, utc_only, ["2026-03-10"]) == date(2026, 3, 10)
    assert earliest_touched_day(catalog, TRIPS, ["2026-03-11"]) == date(2026, 3, 7)
    assert earliest_touched_day(catalog, utc_only, ["2026-03-11"]) == date(2026, 3, 8)
