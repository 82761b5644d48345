"""The monitors' asset checks, run by Dagster's own `materialize` over real Delta tables: drift
(ERROR fails, WARN warns, both naming columns and slices; nothing to compare fails with WARN
severity, saying why) and freshness (a stale or missing table fails)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
from monitoring.drift_frames import DAY, drift_frame, drift_row

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.monitoring_checks import monitor_checks, strictest_freshness
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.monitoring.schema import CONSECUTIVE, DRIFT_METRICS
from lakehouse_ml.monitoring.spec import BaselineTable, DriftThreshold, Monitor

MONITOR = Monitor("gold.customer_features", "time_series", timestamp_col="snapshot_at",
                  slicing_exprs=("country", "email"), baseline=BaselineTable("gold.baseline"),
                  thresholds={"tenure": DriftThreshold("ks_test.pvalue", warn=0.05,
                                                       error=0.01)})
SECRET = "bob.secret@example.com"


def monitored(catalog: Catalog, times: list[datetime]) -> None:
    """The monitored table (email tagged pii) with rows at `times`."""
    frame = pl.DataFrame({"snapshot_at": times, "email": ["x@example.com"] * len(times)},
                         schema={"snapshot_at": pl.Datetime("us", "UTC"), "email": pl.String})
    catalog.create_table(MONITOR.table, frame.schema, TableInfo(
        owner="team:ml", column_tags={"email": ["pii"]}))
    catalog.append(MONITOR.table, frame)


def drift_table(catalog: Catalog, frame: pl.DataFrame) -> None:
    catalog.create_table(MONITOR.drift_metrics_table, DRIFT_METRICS, TableInfo(owner="team:ml"))
    catalog.append(MONITOR.drift_metrics_table, frame)


def run_checks(settings: Settings, monitors: list[Monitor] | None = None
               ) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        monitor_checks(monitors or [MONITOR]), selection=dg.AssetSelection.all_asset_checks(),
        resources={"lakehouse": LakehouseResource.from_settings(settings)})
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_error_drift_fails_the_check_naming_columns_and_slices(
        settings: Settings, catalog: Catalog) -> None:
    monitored(catalog, [DAY])
    drift_table(catalog, drift_frame(
        drift_row("spend", js_distance=0.35, slice_key="country", slice_value="DE"),
        drift_row("spend", js_distance=0.05),
        drift_row("tenure", ks_test=(0.3, 0.03)),
        drift_row("spend", js_distance=0.5, slice_key="email", slice_value=SECRET),
        drift_row("plan", data_type="String", js_distance=0.01),
    ))
    check = run_checks(settings)["drift"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description.startswith("ERROR drift of gold.customer_features (BASELINE) in "
                                        "2026-03-10T00:00:00+00:00 .. 2026-03-11T00:00:00+00:00")
    assert "spend [country=DE] (js_distance 0.35 vs 0.2)" in check.description
    assert "tenure (ks_test.pvalue 0.03 vs 0.05)" in check.description
    assert "spend [email=(pii: not shown)]" in check.description
    assert SECRET not in check.description and "plan" not in check.description
    meta = check.metadata
    assert meta["drifting_columns"].value == "spend, tenure"
    assert (meta["error_pairs"].value, meta["warn_pairs"].value) == (2, 1)
    assert meta["columns_compared"].value == 3
    assert "DE" in meta["drifting"].value and SECRET not in meta["drifting"].value


def test_a_slice_of_an_expression_over_a_pii_column_is_hidden(
        settings: Settings, catalog: Catalog) -> None:
    """The check hides a slice keyed by an expression naming a pii column (`lower(email)`),
    by the same rule as the drift report, not only one keyed by the bare column name."""
    monitor = replace(MONITOR, slicing_exprs=("country", "lower(email)"))
    monitored(catalog, [DAY])
    drift_table(catalog, drift_frame(
        drift_row("spend", js_distance=0.5, slice_key="lower(email)", slice_value=SECRET)))
    check = run_checks(settings, [monitor])["drift"]
    assert not check.passed
    assert "spend [lower(email)=(pii: not shown)]" in check.description
    assert SECRET not in check.description and SECRET not in check.metadata["drifting"].value


def test_warn_drift_warns(settings: Settings, catalog: Catalog) -> None:
    drift_table(catalog, drift_frame(drift_row("spend", js_distance=0.12),
                                     drift_row("tenure", ks_test=(0.1, 0.5))))
    check = run_checks(settings)["drift"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "WARN drift" in check.description and "spend (js_distance 0.12 vs 0.1)" in (
        check.description)


def test_no_drift_passes_and_only_the_latest_window_counts(
        settings: Settings, catalog: Catalog) -> None:
    drift_table(catalog, drift_frame(
        drift_row("spend", js_distance=0.9, start=DAY - timedelta(days=1)),
        drift_row("spend", js_distance=0.01), drift_row("tenure", ks_test=(0.1, 0.5))))
    check = run_checks(settings)["drift"]
    assert check.passed and check.metadata["drifting_columns"].value == "none"
    assert "No column of gold.customer_features drifts" in check.description


@pytest.mark.parametrize(("rows", "why"), [
    (None, "monitoring.gold_customer_features_drift_metrics does not exist yet"),
    ([drift_row("spend", js_distance=0.9, drift_type=CONSECUTIVE)],
     "has no BASELINE drift rows: the baseline could not be read"),
    ([], "has no column's BASELINE drift (only its table-level row)"),
])
def test_nothing_to_compare_fails_saying_why(settings: Settings, catalog: Catalog,
                                             rows: list | None, why: str) -> None:
    if rows is not None:
        frame = drift_frame(*rows) if rows else drift_frame(drift_row("x")).filter(
            pl.col("column_name") == ":table")
        drift_table(catalog, frame)
    check = run_checks(settings)["drift"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description.startswith("Nothing to compare: ") and why in check.description


def test_freshness_fails_on_a_stale_or_missing_table(settings: Settings,
                                                     catalog: Catalog) -> None:
    fresh = Monitor(MONITOR.table, "time_series", timestamp_col="snapshot_at",
                    freshness=timedelta(hours=1))
    assert not run_checks(settings, [fresh])["freshness"].passed  # no table yet
    monitored(catalog, [datetime.now(UTC) - timedelta(days=3)])
    check = run_checks(settings, [fresh])["freshness"]
    assert check.passed, check.description  # the commit is recent
    stale = Monitor(MONITOR.table, "time_series", timestamp_col="snapshot_at",
                    freshness=timedelta(seconds=1))
    time.sleep(1.5)
    check = run_checks(settings, [stale])["freshness"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "gold.customer_features is stale" in check.description
    assert check.metadata["lag_seconds"].value > 1
    catalog.append(MONITOR.table, pl.DataFrame(
        {"snapshot_at": [datetime.now(UTC) + timedelta(hours=1)], "email": ["y"]},
        schema=catalog.schema(MONITOR.table)))
    assert run_checks(settings, [stale])["freshness"].passed


def test_one_freshness_check_per_table_the_strictest() -> None:
    loose = Monitor("gold.t", "snapshot", freshness=timedelta(days=2))
    strict = Monitor("gold.t", "snapshot", freshness=timedelta(hours=2))
    assert strictest_freshness([loose, strict, Monitor("gold.u", "snapshot")]) == [strict]
