"""A refresh against hostile tables: timestamps far in the past or future and NULL ones,
slicing expressions with too many values, columns of every awkward type. The refresh answers
with a reason (a note, a skipped column) and carries on; it never crashes for the data."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.monitoring.refresh import MAX_SLICE_VALUES, refresh
from lakehouse_ml.monitoring.schema import TABLE_LEVEL
from lakehouse_ml.monitoring.spec import BaselineTable, DriftThreshold, Monitor
from lakehouse_ml.monitoring.windows import MonitorError

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MONITOR = Monitor("gold.events", "time_series", timestamp_col="ts", slicing_exprs=("tier",))


def rows(times: list[datetime | None]) -> pl.DataFrame:
    return pl.DataFrame({"ts": times, "x": [float(i) for i in range(len(times))],
                         "tier": ["a", "b"] * (len(times) // 2) + ["a"] * (len(times) % 2)},
                        schema={"ts": pl.Datetime("us", "UTC"), "x": pl.Float64,
                                "tier": pl.String})


def lakehouse(root: Path, frame: pl.DataFrame) -> Catalog:
    catalog = Catalog(str(root), "dev")
    catalog.create_table("gold.events", frame.schema, TableInfo(owner="t"))
    catalog.append("gold.events", frame)
    return catalog


def window_starts(catalog: Catalog, monitor: Monitor = MONITOR) -> list[datetime]:
    profile = catalog.read(monitor.profile_metrics_table)
    return sorted(set(profile["window"].struct.field("start").to_list()))


def test_timestamps_out_of_range_or_null_are_in_no_window_and_counted(tmp_path: Path) -> None:
    normal = [T0 + timedelta(hours=h) for h in range(10)]
    far = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC)]
    catalog = lakehouse(tmp_path, rows([*normal, *far, None]))

    result = refresh(catalog, MONITOR)

    assert [w[0] for w in result.windows] == [T0]
    assert window_starts(catalog) == [T0]
    note, = (n for n in result.notes if "in no window" in n)
    assert note.startswith("1 with a NULL ts and 2 with ts before 0002-01-01 or from "
                           "9998-01-01 on of the table's rows of gold.events")
    table = catalog.read(MONITOR.profile_metrics_table).filter(
        pl.col("column_name") == TABLE_LEVEL, pl.col("slice_key").is_null())
    assert table["count"].to_list() == [10]

    catalog.append("gold.events", rows([None, None, T0 + timedelta(days=1)]))
    later = refresh(catalog, MONITOR)  # incremental: the added rows are counted
    assert [w[0] for w in later.windows] == [T0 + timedelta(days=1)]
    assert any(n.startswith("2 with a NULL ts of the added rows") for n in later.notes)


def test_a_missing_timestamp_column_is_named(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path, rows([T0]))
    monitor = Monitor("gold.events", "time_series", timestamp_col="when")
    with pytest.raises(MonitorError, match=r"monitor of gold.events: no timestamp column "
                                           r"'when' \(columns: ts, x, tier\)"):
        refresh(catalog, monitor)


def test_a_slicing_expression_with_too_many_values_is_capped_with_a_note(
        tmp_path: Path) -> None:
    many = MAX_SLICE_VALUES + 20
    day0 = rows([T0 + timedelta(minutes=m) for m in range(many)])
    day1 = rows([T0 + timedelta(days=1, minutes=m) for m in range(10)])
    catalog = lakehouse(tmp_path, pl.concat([day0, day1]))
    monitor = Monitor("gold.events", "time_series", timestamp_col="ts",
                      slicing_exprs=("x", "tier"))

    result = refresh(catalog, monitor)

    note, = (n for n in result.notes if "slicing expression 'x'" in n)
    assert (f"has up to {many} distinct values in 1 window(s) of gold.events from "
            f"{T0.isoformat()} (at most {MAX_SLICE_VALUES} are sliced)") in note
    profile = catalog.read(monitor.profile_metrics_table)
    start = pl.col("window").struct.field("start")
    by_key = profile.filter(pl.col("column_name") == TABLE_LEVEL).group_by(
        start.alias("start"), "slice_key").len().sort("start", "slice_key", nulls_last=False)
    assert by_key.rows() == [(T0, None, 1), (T0, "tier", 2),  # no slice of x on day 0
                             (T0 + timedelta(days=1), None, 1),
                             (T0 + timedelta(days=1), "tier", 2),
                             (T0 + timedelta(days=1), "x", 10)]  # 10 values: sliced


def test_awkward_columns_are_profiled_or_skipped_with_the_reason(tmp_path: Path) -> None:
    times = [T0 + timedelta(hours=h) for h in range(6)]
    frame = pl.DataFrame({
        "ts": times,
        "all_null": pl.Series([None] * 6, dtype=pl.Float64),
        "nan_inf": [math.nan, math.inf, -math.inf, 1.0, 2.0, None],
        "amount": pl.Series([Decimal("1.25")] * 6, dtype=pl.Decimal(10, 2)),
        "day": [date(2026, 1, 1)] * 6,
        "paris": pl.Series(times).dt.convert_time_zone("Europe/Paris"),
        "items": [[1, 2]] * 6,
        "address": [{"city": "x"}] * 6,
        "text": ["<script>alert(1)</script>\nline", "", "é", None, "a", "b"],
    })
    catalog = lakehouse(tmp_path, frame)

    result = refresh(catalog, Monitor("gold.events", "time_series", timestamp_col="ts"))

    assert result.skipped_columns == {"items": "type List(Int64) cannot be profiled",
                                      "address": "type Struct({'city': String}) cannot be "
                                                 "profiled"}
    profile = catalog.read(MONITOR.profile_metrics_table).filter(
        pl.col("slice_key").is_null()).sort("column_name")
    assert profile["column_name"].to_list() == [
        ":table", "all_null", "amount", "day", "nan_inf", "paris", "text"]
    row = {r["column_name"]: r for r in profile.iter_rows(named=True)}
    assert row["all_null"]["num_nulls"] == 6 and row["all_null"]["avg"] is None
    assert row["nan_inf"]["num_nan"] == 1 and row["nan_inf"]["min"] == -math.inf
    assert row["amount"]["avg"] == 1.25
    assert row["text"]["max_length"] == len("<script>alert(1)</script>\nline")


def test_no_baseline_drift_is_never_left_unsaid(tmp_path: Path) -> None:
    day0 = rows([T0 + timedelta(hours=h) for h in range(6)]).with_columns(
        tier=pl.Series(["a", "b", "new", "a", "b", "new"]))
    catalog = lakehouse(tmp_path, day0)
    catalog.create_table("gold.reference", day0.schema, TableInfo(owner="t"))
    monitor = Monitor("gold.events", "time_series", timestamp_col="ts", slicing_exprs=("tier",),
                      baseline=BaselineTable("gold.reference"))

    empty = refresh(catalog, monitor)  # the baseline table has no row yet
    assert any(n.endswith("gold.reference@0 has no rows: no BASELINE drift")
               for n in empty.notes)

    catalog.append("gold.reference", day0.filter(pl.col("tier") != "new"))
    matched = refresh(catalog, monitor, full=True)
    assert ("1 (window, slice) pairs of slicing expression 'tier' have no baseline rows: no "
            "BASELINE drift for them") in matched.notes
    drift = catalog.read(monitor.drift_metrics_table)
    assert set(drift["slice_value"].drop_nulls()) == {"a", "b"}


def test_thresholds_and_categories_of_unprofiled_columns_are_named(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path, rows([T0]))
    monitor = Monitor("gold.events", "time_series", timestamp_col="ts", exclude=("tier",),
                      thresholds={"amount": DriftThreshold("js_distance", 0.1, 0.2),
                                  "x": DriftThreshold("js_distance", 0.1, 0.2),
                                  "tier": DriftThreshold("js_distance", 0.1, 0.2)},
                      categorical=("x", "colour"))

    result = refresh(catalog, monitor)

    assert ("declared for columns not profiled (not in the table, excluded or of a type that "
            "cannot be profiled): thresholds for 'amount', 'tier'; categorical for 'colour'"
            ) in result.notes
