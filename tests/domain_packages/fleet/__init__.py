"""A second domain with its own model, declared only by this package (as a user's would be):
vehicles ping their engine temperature; a breakdown label says whether a vehicle broke down.
Hot engines break down, so the model can learn it from a handful of rows."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine as pe

from lakehouse_ml.features import FeatureLookup
from lakehouse_ml.medallion.spec import (
    Aggregate,
    Domain,
    Feature,
    FeatureTableSpec,
    Source,
    TrainingSetSpec,
)
from lakehouse_ml.ml.spec import BatchScoring, ModelSpec

UTC = {"time_zone": "UTC"}
HOT, COLD = ("v1", "v2", "v3", "v4"), ("v5", "v6", "v7", "v8")
LABELS = "silver.breakdowns"


class PingContract(pa.DataFrameModel):
    ping_id: str = pa.Field()
    vehicle_id: str = pa.Field()
    pinged_at: pe.DateTime = pa.Field(dtype_kwargs=UTC)
    engine_temp: float = pa.Field(ge=0, le=200)


class BreakdownContract(pa.DataFrameModel):
    vehicle_id: str = pa.Field()
    label_timestamp: pe.DateTime = pa.Field(dtype_kwargs=UTC)
    broke_down: bool = pa.Field()


def vehicle_days(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    return silver["pings"].group_by(
        "vehicle_id", pl.col("pinged_at").dt.date().alias("day")
    ).agg(pl.col("engine_temp").max().alias("max_temp"), pl.len().alias("pings"))


def vehicle_heat(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    """The snapshot stamped D 00:00 holds the hottest ping of day D - 1."""
    return inputs["gold.vehicle_days"].filter(
        pl.col("day").is_in([d - timedelta(days=1) for d in days])
    ).select(
        "vehicle_id",
        (pl.col("day") + timedelta(days=1)).cast(pl.Datetime("us", "UTC")).alias("heat_ts"),
        pl.col("max_temp").alias("max_temp_1d"),
    )


TRAINING_SET = TrainingSetSpec(
    name="fleet.training_set", description="Breakdown labels with the day-before heat.",
    labels=LABELS, label="broke_down", time_column="label_timestamp",
    feature_lookups=(FeatureLookup("gold.vehicle_heat", lookup_key="vehicle_id",
                                   timestamp_lookup_key="label_timestamp",
                                   lookback_window=timedelta(days=1)),),
)

DOMAIN = Domain(
    name="fleet", description="Vehicles and their breakdowns.", start_date=date(2026, 2, 1),
    sources=(
        Source(name="pings", format="jsonl", contract=PingContract, primary_key=("ping_id",),
               event_time="pinged_at", description="Engine temperature pings."),
        Source(name="breakdowns", format="jsonl", contract=BreakdownContract,
               primary_key=("vehicle_id", "label_timestamp"), event_time="label_timestamp",
               description="Did the vehicle break down after label_timestamp."),
    ),
    aggregates=(Aggregate(name="vehicle_days", description="Hottest ping per vehicle and day.",
                          inputs=("pings",), build=vehicle_days, day_column="day",
                          primary_key=("vehicle_id", "day")),),
    feature_tables=(FeatureTableSpec(
        name="vehicle_heat", description="Hottest ping of the day before.",
        entity_keys=("vehicle_id",), timestamp_key="heat_ts", inputs=("gold.vehicle_days",),
        build=vehicle_heat, features=(Feature("max_temp_1d", "hottest ping the day before",
                                              (("gold.vehicle_days", "max_temp"),)),),
    ),),
    training_set=TRAINING_SET,
)


def not_broken_down(vehicles: pl.LazyFrame, tables: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    broken = tables[LABELS].filter(pl.col("broke_down")).select("vehicle_id")
    return vehicles.join(broken, on="vehicle_id", how="anti")


MODELS = (ModelSpec(
    name="breakdown_clf", schema="fleet", description="Will the vehicle break down?",
    training_set=TRAINING_SET, not_features=("vehicle_id", "label_timestamp", "snapshot_at"),
    params={"max_iter": 10, "min_samples_leaf": 1, "random_state": 0},
    holdout_fraction=0.34, min_roc_auc=0.9,
    batch_scoring=BatchScoring(keys_table="silver.pings", key="vehicle_id",
                               eligible=not_broken_down, reads=(LABELS,)),
),)


def _write(landing: str | Path, source: str, day: date, rows: list[dict]) -> None:
    folder = Path(landing) / source / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def land_day(landing: str | Path, day: date, labels: bool = True) -> None:
    """Two pings per vehicle on `day` (hot engines at 110+, cold at 70+) and, unless the
    first day or `labels` is false, one breakdown label per vehicle at `day` 00:00."""
    pings = [{"ping_id": f"{v}-{day}-{i}", "vehicle_id": v, "engine_temp": base + i,
              "pinged_at": f"{datetime.combine(day, time(8 + i)).isoformat()}Z"}
             for v in (*HOT, *COLD) for i, base in enumerate([110.0 if v in HOT else 70.0] * 2)]
    _write(landing, "pings", day, pings)
    if labels:
        _write(landing, "breakdowns", day, [
            {"vehicle_id": v, "label_timestamp": f"{day.isoformat()}T00:00:00Z",
             "broke_down": v in HOT} for v in (*HOT, *COLD)])
