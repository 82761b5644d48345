"""Hand-made drift-metrics tables (schema.DRIFT_METRICS) for tests of levels, reports, checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from lakehouse_ml.monitoring.schema import BASELINE, DRIFT_METRICS, TABLE_LEVEL

DAY = datetime(2026, 3, 10, tzinfo=UTC)


def window(start: datetime = DAY, days: int = 1) -> dict[str, datetime]:
    return {"start": start, "end": start + timedelta(days=days)}


def drift_row(column: str, *, data_type: str = "Float64", start: datetime = DAY,
              drift_type: str = BASELINE, slice_key: str | None = None,
              slice_value: str | None = None, **metrics: Any) -> dict[str, Any]:
    """One drift-metrics row; metrics not given are NULL (`ks_test=(statistic, pvalue)`)."""
    row: dict[str, Any] = dict.fromkeys(DRIFT_METRICS.names())
    row.update(window=window(start), granularity="1 day", column_name=column,
               slice_key=slice_key, slice_value=slice_value, drift_type=drift_type,
               data_type=data_type,
               window_cmp=None if drift_type == BASELINE else window(start - timedelta(days=1)))
    for name in ("ks_test", "chi_squared_test"):
        if name in metrics:
            statistic, pvalue = metrics.pop(name)
            row[name] = {"statistic": statistic, "pvalue": pvalue}
    row.update(metrics)
    return row


def drift_frame(*rows: dict[str, Any]) -> pl.DataFrame:
    """`rows` plus a `:table` row per window, as a DRIFT_METRICS frame."""
    table = [drift_row(TABLE_LEVEL, data_type=None, start=r["window"]["start"],
                       drift_type=r["drift_type"], count_delta=0.0)
             for r in {(r["window"]["start"], r["drift_type"]): r for r in rows}.values()]
    return pl.DataFrame([*rows, *table], schema=DRIFT_METRICS, orient="row")
