"""A domain declared only here materializes with the unchanged engine and factories."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine as pe

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.medallion.spec import Aggregate, Domain, Expectation, Source
from tests.conftest import materialize


class ReadingContract(pa.DataFrameModel):
    reading_id: str = pa.Field()
    device_id: str = pa.Field(description="Sensor.", metadata={"tags": ["device"]})
    measured_at: pe.DateTime = pa.Field(dtype_kwargs={"time_zone": "UTC"})
    celsius: float = pa.Field(ge=-50, le=150)


def device_days(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        silver["readings"]
        .group_by("device_id", pl.col("measured_at").dt.date().alias("day"))
        .agg(pl.col("celsius").max().alias("max_celsius"), pl.len().alias("readings"))
    )


IOT = Domain(
    name="iot", description="Sensors.", start_date=date(2026, 1, 1),
    sources=(Source(name="readings", format="jsonl", contract=ReadingContract,
                    primary_key=("reading_id",), event_time="measured_at",
                    description="Sensor readings."),),
    aggregates=(Aggregate(
        name="device_days", description="Hottest reading per device and day.",
        inputs=("readings",), build=device_days, day_column="day",
        primary_key=("device_id", "day"),
        expectations=(Expectation("expect_column_values_to_be_between", column="max_celsius",
                                  min_value=-50, max_value=150),),
    ),),
)


def land(landing: Path, day: str, rows: list[dict]) -> None:
    folder = landing / "readings" / day
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_second_domain_runs_through_the_same_engine(settings: Settings) -> None:
    landing = Path(settings.landing)
    land(landing, "2026-02-01", [
        {"reading_id": "r1", "device_id": "d1", "measured_at": "2026-02-01T01:00:00Z",
         "celsius": 20.5},
        {"reading_id": "r2", "device_id": "d1", "measured_at": "2026-02-01T02:00:00+01:00",
         "celsius": 22.0},
        {"reading_id": "r3", "device_id": "d2", "measured_at": "2026-02-01T03:00:00Z",
         "celsius": 999},
    ])
    land(landing, "2026-02-02", [
        {"reading_id": "r4", "device_id": "d2", "measured_at": "2026-02-02T03:00:00Z",
         "celsius": 30.0},
    ])

    result = materialize(settings, ["2026-02-01", "2026-02-02"], domain=IOT)

    assert result.success
    catalog = Catalog(settings.root, settings.env)
    gold = catalog.read("gold.device_days").sort("device_id", "day")
    assert gold.select("device_id", "max_celsius", "readings").rows() == [
        ("d1", 22.0, 2), ("d2", 30.0, 1)]
    quarantined = catalog.read("silver.readings_quarantine")
    assert quarantined["reading_id"].to_list() == ["r3"]
    assert "celsius" in quarantined["_reasons"].list.first()[0]
    assert catalog.describe("silver.readings").info.column_tags == {"device_id": ["device"]}
