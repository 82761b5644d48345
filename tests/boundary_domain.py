"""A tiny domain for boundary tests of the engine and its asset checks: landed by hand, a few
rows at a time, so each test states exactly which rows exist and what must become of them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine as pe

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.spec import Aggregate, Domain, Expectation, Source

DAY1, DAY2 = "2026-02-01", "2026-02-02"


class ReadingContract(pa.DataFrameModel):
    reading_id: str = pa.Field()
    version: int = pa.Field(ge=0)
    measured_at: pe.DateTime = pa.Field(dtype_kwargs={"time_zone": "UTC"})
    celsius: float = pa.Field(ge=-50, le=150)


READINGS = Source(
    name="readings", format="jsonl", contract=ReadingContract, primary_key=("reading_id",),
    event_time="measured_at", sequence_by="version", description="Sensor readings.",
    max_reject_fraction=0.25, min_rows_to_block=4,
)


def hottest(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        silver["readings"].group_by(pl.col("measured_at").dt.date().alias("day"))
        .agg(pl.col("celsius").max().alias("max_celsius"))
    )


HOTTEST = Aggregate(
    name="hottest", description="Hottest reading per day.", inputs=("readings",), build=hottest,
    day_column="day", primary_key=("day",),
    expectations=(Expectation("expect_column_values_to_be_between", column="max_celsius",
                              min_value=-50, max_value=100),),
)
"""Stricter than the contract (which allows 150 °C): a day above 100 °C fails the suite."""

SENSORS = Domain(name="sensors", description="Sensors.", start_date=date(2026, 1, 1),
                 sources=(READINGS,), aggregates=(HOTTEST,))


def reading(reading_id: str, version: int = 1, celsius: float | str = 20.0,
            at: str = f"{DAY1}T01:00:00Z") -> dict:
    return {"reading_id": reading_id, "version": version, "measured_at": at, "celsius": celsius}


def land(landing: str | Path, day: str, rows: list[dict], file: str = "part-0.jsonl",
         source: str = "readings") -> str:
    """Write `rows` as one JSON line each; returns the file's path below the landing root."""
    folder = Path(landing) / source / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"{source}/{day}/{file}"


BATCH_DAYS = ["2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04"]
BATCH_SIZES = [2, 1, 3, 1]
"""Readings landed per day (batch) by `land_batches`: uneven, so steps of batches differ."""


def land_batches(landing: str | Path, catalog: Catalog) -> Catalog:
    """Land and ingest BATCH_SIZES readings on each of BATCH_DAYS (ids `<day>-<n>`)."""
    for day, size in zip(BATCH_DAYS, BATCH_SIZES, strict=True):
        land(landing, day, [reading(f"{day}-{n}", at=f"{day}T01:00:00Z") for n in range(size)])
    ingest(catalog, READINGS, str(landing), BATCH_DAYS)
    return catalog
