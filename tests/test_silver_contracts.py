"""Silver contracts refuse what no rule can vouch for: non-finite numbers (NaN, ±inf) and event
times implausibly far after their ingestion; each such row is quarantined with its reason."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.engines import polars_engine as pe

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.silver import refine
from lakehouse_ml.medallion.spec import Expectation, Source
from lakehouse_ml.quality.contracts import ALLOW_NON_FINITE
from lakehouse_ml.quality.expectations import run_suite

DAY = "2026-03-01"


def _event(i: int, **fields: object) -> dict[str, object]:
    return {"event_id": f"e-{i}", "customer_id": 1, "event_ts": "2026-03-01T10:00:00Z",
            "event_type": "purchase", "session_id": "s", "product_id": "p", "revenue": "1.5",
            **fields}


def _land_and_refine(settings: Settings, catalog: Catalog, source: Source,
                     rows: list[dict[str, object]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    path = Path(settings.landing) / source.name / DAY / "a.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(catalog, source, str(settings.landing), [DAY])
    refine(catalog, source, [DAY])
    quarantine = catalog.read(source.quarantine_table).select(
        pl.col("_line"), pl.col("_reasons").list.join("; ")).sort("_line")
    return catalog.read(source.silver_table).sort("_line"), quarantine


def test_nan_and_infinities_are_quarantined_with_a_reason(
    settings: Settings, catalog: Catalog
) -> None:
    rows = [_event(1, revenue="NaN"), _event(2, revenue="inf"), _event(3, revenue="-inf"),
            _event(4, revenue=None), _event(5, revenue="nan"), _event(6)]
    silver, quarantine = _land_and_refine(settings, catalog, DOMAIN.source("events"), rows)
    assert silver.select("event_id", "revenue").rows() == [("e-4", None), ("e-6", 1.5)]
    assert quarantine.rows() == [
        (1, "revenue: not a finite number (got NaN)"),
        (2, "revenue: not a finite number (got inf)"),
        (3, "revenue: not a finite number (got -inf)"),
        (5, "revenue: not a finite number (got NaN)"),
    ]


def test_infinite_amount_fails_gt_zero(settings: Settings, catalog: Catalog) -> None:
    order = {"order_id": "o-1", "customer_id": 1, "order_ts": "2026-03-01T10:00:00Z",
             "amount": "inf", "status": "placed", "product_id": None,
             "updated_at": "2026-03-01T10:00:00Z"}
    silver, quarantine = _land_and_refine(settings, catalog, DOMAIN.source("orders"), [
        order, {**order, "order_id": "o-2", "amount": "12.5"}])
    assert silver["order_id"].to_list() == ["o-2"]
    assert quarantine.rows() == [(1, "amount: not a finite number (got inf)")]


class ReadingContract(pa.DataFrameModel):
    reading_id: str = pa.Field()
    read_at: pe.DateTime = pa.Field(dtype_kwargs={"time_zone": "UTC"})
    value: float = pa.Field(ge=0, nullable=True, metadata={ALLOW_NON_FINITE: True})
    error: float = pa.Field(ge=0, nullable=True)


def test_a_column_can_declare_non_finite_numbers_allowed(
    settings: Settings, catalog: Catalog
) -> None:
    source = Source(name="readings", format="jsonl", contract=ReadingContract,
                    primary_key=("reading_id",), description="Sensor readings.",
                    event_time="read_at")
    base = {"read_at": "2026-03-01T10:00:00Z", "error": "0.5"}
    silver, quarantine = _land_and_refine(settings, catalog, source, [
        {**base, "reading_id": "r-1", "value": "NaN"},
        {**base, "reading_id": "r-2", "value": "inf"},
        {**base, "reading_id": "r-3", "value": "1", "error": "NaN"}])
    assert silver["reading_id"].to_list() == ["r-1", "r-2"]
    assert quarantine.rows() == [(3, "error: not a finite number (got NaN)")]


def test_gold_range_expectation_fails_on_nan_not_on_null() -> None:
    suite = [Expectation("expect_column_values_to_be_between", column="revenue", min_value=0)]
    nan = run_suite("daily", pl.DataFrame({"revenue": [1.0, float("nan"), None]}), suite)
    assert not nan.success
    assert nan.failed[0]["unexpected_count"] == 1
    assert run_suite("daily", pl.DataFrame({"revenue": [1.0, None]}), suite).success


def test_event_times_far_after_ingestion_are_quarantined(
    settings: Settings, catalog: Catalog
) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    rows = [_event(1, event_ts="9999-12-31T00:00:00Z"), _event(2, event_ts="2999-01-01T00:00:00Z"),
            _event(3, event_ts=soon), _event(4)]
    silver, quarantine = _land_and_refine(settings, catalog, DOMAIN.source("events"), rows)
    assert silver["event_id"].to_list() == ["e-3", "e-4"]  # within the default day ahead
    assert quarantine["_line"].to_list() == [1, 2]
    assert quarantine["_reasons"].str.starts_with(
        "event_ts: more than 1 day, 0:00:00 after _ingested_at (got ").all()
    assert "9999-12-31T00:00:00+00:00" in quarantine["_reasons"][0]


def test_the_bound_is_declared_per_source(settings: Settings, catalog: Catalog) -> None:
    strict = replace(DOMAIN.source("events"), max_event_time_ahead=timedelta(0))
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    silver, quarantine = _land_and_refine(settings, catalog, strict,
                                          [_event(1, event_ts=soon), _event(2)])
    assert silver["event_id"].to_list() == ["e-2"]
    assert quarantine["_line"].to_list() == [1]


def test_event_times_before_the_lower_bound_are_quarantined(
    settings: Settings, catalog: Catalog
) -> None:
    rows = [_event(1, event_ts="0001-01-01T00:00:00Z"), _event(2, event_ts="1969-12-31T23:59:59Z"),
            _event(3, event_ts="1970-01-01T00:00:00Z"), _event(4)]
    silver, quarantine = _land_and_refine(settings, catalog, DOMAIN.source("events"), rows)
    assert silver["event_id"].to_list() == ["e-3", "e-4"]  # the default bound is the epoch
    assert quarantine.rows() == [
        (1, "event_ts: before 1970-01-01T00:00:00+00:00 (got 0001-01-01T00:00:00+00:00)"),
        (2, "event_ts: before 1970-01-01T00:00:00+00:00 (got 1969-12-31T23:59:59+00:00)")]


def test_the_lower_bound_is_declared_per_source(settings: Settings, catalog: Catalog) -> None:
    events = DOMAIN.source("events")
    strict = replace(events, min_event_time=datetime(2026, 3, 1, 10, 30))  # naive: UTC
    silver, quarantine = _land_and_refine(settings, catalog, strict, [
        _event(1), _event(2, event_ts="2026-03-01T11:00:00+01:00"),
        _event(3, event_ts="2026-03-01T10:30:00Z")])
    assert silver["event_id"].to_list() == ["e-3"]
    assert quarantine["_line"].to_list() == [1, 2]
    assert quarantine["_reasons"][1].startswith(
        "event_ts: before 2026-03-01T10:30:00+00:00 (got 2026-03-01T10:00:00+00:00")
    unbounded = replace(events, min_event_time=None)
    silver, _ = _land_and_refine(settings, catalog, unbounded,
                                 [_event(1, event_ts="0001-01-01T00:00:00Z")])
    assert silver["event_id"].to_list() == ["e-1"]
