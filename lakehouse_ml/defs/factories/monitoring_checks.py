"""Asset checks of monitors: drift levels on each drift-metrics table (WARN and ERROR
severities naming the drifting columns and slices) and the monitored tables' freshness."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import polars as pl

from lakehouse_ml.defs.factories.metadata import asset_key, markdown
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.monitoring.freshness import freshness
from lakehouse_ml.monitoring.levels import ERROR, WindowDrift, latest_drift
from lakehouse_ml.monitoring.pii import HIDDEN, masked_slice_value, pii_columns, reveals_pii
from lakehouse_ml.monitoring.spec import Monitor

DRIFT_CHECK = "drift"
FRESHNESS_CHECK = "freshness"
MAX_NAMED = 20
"""(column, slice) pairs named in a check's description."""
MAX_SHOWN = 200
"""Rows of the Markdown table of flagged pairs in metadata (ERROR first)."""


def _pair(row: dict, pii: set[str]) -> str:
    where = "" if row["slice_key"] is None else (
        f" [{row['slice_key']}="
        f"{HIDDEN if reveals_pii(row['slice_key'], pii) else row['slice_value']}]")
    value = "" if row["column_name"] in pii else (
        f" ({row['metric']} {row['value']:.4g} vs {row['threshold']:g})")
    return f"{row['column_name']}{where}{value}"


def drift_summary(found: WindowDrift, pii: set[str]) -> pl.DataFrame:
    """The flagged (column, slice) pairs, ERROR first, the values of slices whose expression
    names a pii column (`monitoring.pii.reveals_pii`) and pii columns' metric values hidden:
    column_name, slice_key, slice_value, metric, value, threshold, level."""
    secret = pl.col("column_name").is_in(list(pii))
    return found.levels.sort(pl.col("level") != ERROR, "column_name", "slice_key",
                             nulls_last=False).select(
        "column_name", "slice_key",
        masked_slice_value(found.levels["slice_key"].unique().to_list(), pii),
        "metric",
        pl.when(secret).then(None).otherwise(pl.col("value").round(4)).alias("value"),
        "threshold", "level")


def drift_check_result(found: WindowDrift, monitor: Monitor, pii: set[str]
                       ) -> dg.AssetCheckResult:
    """Failed with ERROR or WARN severity naming the flagged columns and slices; passed when
    none is flagged. Nothing compared (no drift table or row, no baseline yet) never passes:
    failed with WARN severity saying why (no evidence of drift, but none of its absence)."""
    if found.nothing_to_compare is not None or found.window is None:
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN,
            description=f"Nothing to compare: {found.nothing_to_compare}",
            metadata={"drift_type": found.drift_type})
    levels = found.levels
    worst = ERROR if (levels["level"] == ERROR).any() else "WARN" if levels.height else None
    window = f"{found.window[0].isoformat()} .. {found.window[1].isoformat()}"
    summary = drift_summary(found, pii)
    metadata = {
        "window": window, "drift_type": found.drift_type,
        "columns_compared": found.drift.filter(pl.col("slice_key").is_null()
                                               & (pl.col("column_name") != ":table")).height,
        "error_pairs": int((levels["level"] == ERROR).sum()),
        "warn_pairs": int((levels["level"] != ERROR).sum()),
        "drifting_columns": ", ".join(dict.fromkeys(summary["column_name"])) or "none",
        "drifting": markdown(summary, rows=min(summary.height, MAX_SHOWN)),
    }
    if worst is None:
        return dg.AssetCheckResult(passed=True, metadata=metadata, description=(
            f"No column of {monitor.table} drifts ({found.drift_type}) in {window}."))
    rows = list(summary.iter_rows(named=True))
    named = "; ".join(_pair(r, pii) for r in rows[:MAX_NAMED])
    more = f"; and {len(rows) - MAX_NAMED} more" if len(rows) > MAX_NAMED else ""
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity(worst), metadata=metadata,
        description=f"{worst} drift of {monitor.table} ({found.drift_type}) in {window}: "
        f"{named}{more}.")


def drift_check(monitor: Monitor) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(monitor.drift_metrics_table), name=DRIFT_CHECK,
        description=f"Drift of {monitor.table} in the latest window against its baseline (or "
        "the previous window without one): ERROR severity for ERROR-level drift, WARN for "
        "WARN-level, naming the columns and slices; fails (WARN) when nothing could be "
        "compared, saying why.")
    def _drift(lakehouse: LakehouseResource) -> dg.AssetCheckResult:
        catalog = lakehouse.catalog()
        return drift_check_result(latest_drift(catalog, monitor), monitor,
                                  pii_columns(catalog, monitor.table))

    return _drift


def freshness_check(monitor: Monitor) -> dg.AssetChecksDefinition:
    """ERROR-severity check `freshness` on the monitored table: see `monitoring.freshness`."""
    @dg.asset_check(
        asset=asset_key(monitor.table), name=FRESHNESS_CHECK,
        description=f"{monitor.table} has a row (by {monitor.timestamp_col or 'no column'}) "
        f"or a Delta commit at most {monitor.freshness} old; fails when stale.")
    def _freshness(lakehouse: LakehouseResource) -> dg.AssetCheckResult:
        found = freshness(lakehouse.catalog(), monitor)
        metadata = {"freshness_bound_seconds": monitor.freshness.total_seconds() if
                    monitor.freshness else None,
                    "lag_seconds": found.lag.total_seconds() if found.lag else None,
                    "latest_row": found.latest_row.isoformat() if found.latest_row else None,
                    "latest_commit": (found.latest_commit.isoformat() if found.latest_commit
                                      else None)}
        return dg.AssetCheckResult(passed=found.fresh, description=found.reason,
                                   metadata=metadata)

    return _freshness


def strictest_freshness(monitors: Sequence[Monitor]) -> list[Monitor]:
    """One monitor per monitored table that declares a freshness: the one with the smallest."""
    by_table: dict[str, Monitor] = {}
    for monitor in monitors:
        if monitor.freshness is None:
            continue
        held = by_table.get(monitor.table)
        if held is None or monitor.freshness < (held.freshness or monitor.freshness):
            by_table[monitor.table] = monitor
    return list(by_table.values())


def monitor_checks(monitors: Sequence[Monitor]) -> list[dg.AssetChecksDefinition]:
    """A drift check per monitor and a freshness check per monitored table with a freshness."""
    return [*(drift_check(m) for m in monitors),
            *(freshness_check(m) for m in strictest_freshness(monitors))]
