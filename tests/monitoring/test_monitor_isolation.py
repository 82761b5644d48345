"""One monitor's failure stops neither its other slices nor the other monitors of the same
run (Dagster's own `materialize` over real Delta tables): a slicing expression over a column
the table lacks is left out, named in the asset's metadata and log; a monitor whose timestamp
column is missing fails its own step only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.monitoring import monitor_asset
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.monitoring.schema import TABLE_LEVEL
from lakehouse_ml.monitoring.spec import Monitor

START = datetime(2026, 3, 1, tzinfo=UTC)
SLICED = Monitor("gold.events", "time_series", timestamp_col="ts",
                 slicing_exprs=("tier", "upper(country) = 'FR'"))
UNTIMED = Monitor("gold.other", "time_series", timestamp_col="when")
PLAIN = Monitor("gold.plain", "time_series", timestamp_col="ts")


def _tables(catalog: Catalog) -> None:
    frame = pl.DataFrame({
        "ts": [START + timedelta(hours=h) for h in range(48)],
        "x": [float(h % 7) for h in range(48)], "tier": ["a", "b"] * 24,
    }, schema_overrides={"ts": pl.Datetime("us", "UTC")})
    for table in ("gold.events", "gold.other", "gold.plain"):
        catalog.create_table(table, frame.schema, TableInfo(owner="team:ml"))
        catalog.overwrite(table, frame)


def test_a_failing_slice_or_monitor_leaves_the_rest_computed(
        settings: Settings, catalog: Catalog, tmp_path: Path) -> None:
    _tables(catalog)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"lakehouse": LakehouseResource.from_settings(settings),
                 "mlflow": MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")}

    result = dg.materialize([monitor_asset(m) for m in (UNTIMED, SLICED, PLAIN)],
                            resources=resources, instance=instance, raise_on_error=False)

    assert not result.success
    (failed,) = [e for e in result.all_events if e.is_step_failure]
    assert failed.step_key == "monitor_gold_other"
    assert "no timestamp column 'when'" in str(failed.step_failure_data.error)
    meta = {e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    sliced = meta["monitoring/gold_events_profile_metrics"]
    assert sliced["failed_slices"].value == (
        "upper(country) = 'FR' (column(s) 'country' not in gold.events (columns: ts, x, tier))")
    assert meta["monitoring/gold_events_drift_metrics"]["windows_computed"].value == 2
    assert "monitoring/gold_other_profile_metrics" not in meta  # the failed step
    assert meta["monitoring/gold_plain_profile_metrics"]["windows_computed"].value == 2
    warnings = [r.user_message for r in instance.all_logs(result.run_id)
                if "left out" in r.user_message]
    assert warnings == ["gold.events: slicing expression \"upper(country) = 'FR'\" left out: "
                        "column(s) 'country' not in gold.events (columns: ts, x, tier)"]
    profile = catalog.read(SLICED.profile_metrics_table).filter(
        pl.col("column_name") == TABLE_LEVEL)
    assert sorted(set(profile["slice_key"].to_list()), key=str) == [None, "tier"]
