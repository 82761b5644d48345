"""A monitor as Dagster assets over a tiny real Delta table, run with Dagster's own
`materialize` and job: both metric tables written with metadata (windows, rows, version, the
drift summary, the report path and MLflow run), the drift check on the result, the job and its
schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.monitoring import monitor_asset, monitoring_definitions
from lakehouse_ml.defs.factories.monitoring_checks import monitor_checks
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.monitoring.spec import BaselineTable, Monitor

START = datetime(2026, 3, 1, tzinfo=UTC)
MONITOR = Monitor("gold.tiny", "time_series", timestamp_col="ts",
                  baseline=BaselineTable("gold.tiny_baseline"), slicing_exprs=("code",),
                  freshness=timedelta(days=1))
SECRET = "carol.secret@example.com"


def tiny(catalog: Catalog, shifted_day: int | None = 2) -> None:
    """3 days x 1000 rows; `x` shifts by 3 standard deviations on `shifted_day`, `y` never."""
    rng = np.random.default_rng(5)
    def rows(n: int, shift: float, day: int) -> pl.DataFrame:
        return pl.DataFrame({
            "ts": [START + timedelta(days=day, minutes=i) for i in range(n)],
            "x": rng.normal(shift, 1, n), "y": rng.normal(0, 1, n),
            "code": rng.choice(["a", "b"], n), "email": [SECRET] * n,
        }, schema_overrides={"ts": pl.Datetime("us", "UTC")})
    current = pl.concat([rows(1000, 3.0 if d == shifted_day else 0.0, d) for d in range(3)])
    baseline = rows(3000, 0.0, -10)
    for table, frame in ((MONITOR.table, current), ("gold.tiny_baseline", baseline)):
        catalog.create_table(table, frame.schema, TableInfo(owner="team:ml",
                                                            column_tags={"email": ["pii"]}))
        catalog.overwrite(table, frame)


def resources(settings: Settings, tmp_path: Path) -> dict:
    return {"lakehouse": LakehouseResource.from_settings(settings),
            "mlflow": MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")}


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}


@pytest.fixture
def run(settings: Settings, catalog: Catalog, tmp_path: Path) -> dg.ExecuteInProcessResult:
    tiny(catalog)
    asset = monitor_asset(MONITOR)
    return dg.materialize([asset, *monitor_checks([MONITOR])],
                          selection=dg.AssetSelection.assets(asset)
                          | dg.AssetSelection.all_asset_checks(),
                          resources=resources(settings, tmp_path))


def test_monitor_asset_writes_both_tables_with_metadata_and_its_check_fails(
        run: dg.ExecuteInProcessResult, catalog: Catalog) -> None:
    meta = materializations(run)
    profile = meta["monitoring/gold_tiny_profile_metrics"]
    drift = meta["monitoring/gold_tiny_drift_metrics"]
    assert profile["windows_computed"].value == 3 == drift["windows_computed"].value
    assert profile["monitored_version"].value == catalog.version(MONITOR.table)
    assert profile["rows_written"].value == catalog.read(MONITOR.profile_metrics_table).height
    assert drift["latest_window"].value == ("2026-03-03T00:00:00+00:00 .. "
                                            "2026-03-04T00:00:00+00:00")
    assert drift["error_pairs"].value >= 1
    summary = drift["drifting"].value
    assert "| x " in summary and "| y " not in summary and SECRET not in summary
    report = Path(drift["drift_report"].value)
    assert report.is_file() and report.is_relative_to(catalog.root)
    page = report.read_text()
    assert 'alt="x"' in page and 'alt="y"' not in page and SECRET not in page
    assert drift["plotted_columns"].value == "x" and drift["mlflow_run_id"].value
    # the drift check after it: ERROR on the shifted column only
    checks = {e.check_name: e for e in run.get_asset_check_evaluations()}
    assert not checks["drift"].passed
    assert checks["drift"].severity == dg.AssetCheckSeverity.ERROR
    assert ": x (js_distance" in checks["drift"].description
    assert " y (" not in checks["drift"].description
    assert checks["freshness"].passed  # the commit is seconds old


def test_a_refresh_with_nothing_new_writes_no_report_and_keeps_the_tables(
        run: dg.ExecuteInProcessResult, settings: Settings, catalog: Catalog,
        tmp_path: Path) -> None:
    rows = catalog.read(MONITOR.drift_metrics_table).height
    again = dg.materialize([monitor_asset(MONITOR)], resources=resources(settings, tmp_path))
    drift = materializations(again)["monitoring/gold_tiny_drift_metrics"]
    assert drift["windows_computed"].value == 0 and "drift_report" not in drift
    assert catalog.read(MONITOR.drift_metrics_table).height == rows


def test_monitoring_job_and_schedule(settings: Settings, catalog: Catalog,
                                     tmp_path: Path) -> None:
    tiny(catalog, shifted_day=None)
    defs = dg.Definitions.merge(monitoring_definitions("demo", [MONITOR]),
                                dg.Definitions(resources=resources(settings, tmp_path)))
    job = defs.resolve_job_def("demo_monitoring_refresh")
    schedule = defs.resolve_schedule_def("demo_monitoring_refresh_schedule")
    assert schedule.cron_schedule == "0 6 * * *" and schedule.job_name == job.name
    result = job.execute_in_process()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["drift"].passed, checks["drift"].description
    assert checks["freshness"].passed
    assert monitoring_definitions("demo", []).jobs is None or not list(
        monitoring_definitions("demo", []).jobs)
