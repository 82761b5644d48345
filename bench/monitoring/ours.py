"""Ours: the monitoring engine's profile and drift on the benchmark's data, in the project's venv.

    python -m bench.monitoring.ours DATA_DIR

Laps: `read` (both Parquet files into polars), `prepare_reference` (`drift.prepare` of the
reference: its numeric columns sorted, categorical ones counted, as a refresh prepares its
baseline once for every window), `profile_current` (the engine's path for one window of a
snapshot monitor of every column: `profiled_columns`, `assign_windows`, `sliced`, `prepare`
of the window, `profile` reading the window's sorted columns), `drift`
(`drift_rows(current, reference, categorical)` of the two prepared sides), `profile_reference`
(`profile` of the reference from its sorted columns: its population std and distinct
counts, which Evidently's decisions need and a refresh does not compute), `decide`
(`evidently_decisions`). `profile_current` and `drift` are what a refresh computes per
window; all five compute laps are the compared work. As in a refresh, the four laps before
`decide` run once per column group (`profile.column_groups`: the categorical columns and 8
numeric ones, then 8 numeric ones at a time), so each side's sorted values are held for one
group only; a lap's figures are summed over the groups.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import Stopwatch, emit
from lakehouse_ml.monitoring.drift import Prepared, drift_rows, prepare
from lakehouse_ml.monitoring.profile import (
    GROUP,
    GroupLayout,
    Kind,
    column_groups,
    group_layout,
    profile,
    profiled_columns,
)
from lakehouse_ml.monitoring.spec import Monitor
from lakehouse_ml.monitoring.windows import assign_windows, sliced

THRESHOLD = 0.1
"""Evidently's default threshold of both its tests (normed Wasserstein, JS distance)."""
FEW_VALUES = 5
"""Evidently tests a numeric column with at most this many distinct values (both sides
together) like a categorical one (JS distance over values)."""
STD_FLOOR = 0.001
"""Evidently divides the Wasserstein distance by max(std_ref, 0.001)."""
WASSERSTEIN, JS = "Wasserstein distance (normed)", "Jensen-Shannon distance"
"""Evidently's names of its methods, so the two sides' reports line up."""
MONITOR = Monitor(table="bench.current", profile_type="snapshot")
SNAPSHOT = datetime(2026, 1, 1, tzinfo=UTC)


def _whole(frame: pl.DataFrame) -> pl.LazyFrame:
    """`frame` as one snapshot window, whole table (no slices), with the GROUP columns."""
    windowed = assign_windows(frame.lazy(), MONITOR, frame.schema, SNAPSHOT)
    return next(iter(sliced(windowed, MONITOR)))[1]


def layout_of(frame: pl.DataFrame) -> GroupLayout:
    """The groups `profile_frame` finds in `frame` (one), for profiling it group by group."""
    return group_layout(_whole(frame).select(GROUP).collect())


def profile_frame(frame: pl.DataFrame, kinds: Mapping[str, Kind],
                  categorical: Mapping[str, bool], prepared: Prepared | None = None,
                  layout: GroupLayout | None = None) -> pl.DataFrame:
    """The engine's profile rows of `frame` as one snapshot window, whole table (no slices);
    `prepared`: `frame`'s prepared side, whose sorted columns the profile reads; `layout`:
    `layout_of(frame)`."""
    return profile(_whole(frame), kinds, categorical,
                   None if prepared is None else lambda _, column: prepared.sorted_column(column),
                   layout)


def _population_std(row: Mapping[str, Any]) -> float | None:
    """The population std (ddof 0) of a profile row's values from its sample `stddev`."""
    n = (row["count"] or 0) - (row["num_nan"] or 0)
    if row["stddev"] is None or n < 2:
        return None
    return float(row["stddev"]) * math.sqrt((n - 1) / n)


def evidently_decisions(drift: pl.DataFrame, reference: pl.DataFrame, current: pl.DataFrame,
                        categorical: Mapping[str, bool]) -> dict[str, dict[str, Any]]:
    """Each column's drift decision with Evidently's `DataDriftPreset` tests for > 1,000
    reference rows, from the engine's rows: `drift` (DRIFT_METRICS), `reference`/`current`
    (PROFILE_METRICS of either side). Numeric with > 5 distinct values: normed Wasserstein =
    wasserstein_distance / max(std_ref, 0.001); otherwise JS distance in base e =
    js_distance (base 2) · sqrt(ln 2). Drift when the value >= 0.1. When the profiles cannot
    tell whether a numeric column's two sides hold more than 5 distinct values together
    (max <= 5 < sum), the decision is None."""
    rows = {r["column_name"]: r for r in drift.iter_rows(named=True)}
    ref = {r["column_name"]: r for r in reference.iter_rows(named=True)}
    cur = {r["column_name"]: r for r in current.iter_rows(named=True)}
    out: dict[str, dict[str, Any]] = {}
    for name, is_categorical in categorical.items():
        row = rows[name]
        method, value = JS, None
        if not is_categorical:
            distinct = (ref[name]["distinct_count"] or 0, cur[name]["distinct_count"] or 0)
            if max(distinct) > FEW_VALUES:
                std = _population_std(ref[name])
                method = WASSERSTEIN
                value = (None if std is None or row["wasserstein_distance"] is None
                         else row["wasserstein_distance"] / max(std, STD_FLOOR))
            elif sum(distinct) > FEW_VALUES:
                method = "undecided (distinct values)"
        if method == JS and row["js_distance"] is not None:
            value = row["js_distance"] * math.sqrt(math.log(2))
        out[name] = {"method": method, "value": value, "threshold": THRESHOLD,
                     "drift": None if value is None else value >= THRESHOLD}
    return out


def main(directory: Path) -> None:
    watch = Stopwatch()
    with watch.lap("read"):
        reference = pl.read_parquet(directory / "reference.parquet")
        current = pl.read_parquet(directory / "current.parquet")
    kinds, categorical, skipped = profiled_columns(current.schema, MONITOR)
    parts: dict[str, list[pl.DataFrame]] = {"current": [], "drift": [], "reference": []}
    layouts: dict[str, GroupLayout] = {}
    for group in column_groups(kinds, categorical):  # as a refresh: one group at a time
        flags, group_kinds = {c: categorical[c] for c in group}, {c: kinds[c] for c in group}
        with watch.lap("prepare_reference"):
            baseline = prepare(reference, flags)
        with watch.lap("profile_current"):
            window = prepare(current, flags)
            layout = layouts.get("current") or layouts.setdefault("current", layout_of(current))
            parts["current"].append(profile_frame(current, group_kinds, flags, window, layout))
        with watch.lap("drift"):
            parts["drift"].append(drift_rows(window, baseline, flags))
        with watch.lap("profile_reference"):
            layout = layouts.get("reference") or layouts.setdefault("reference",
                                                                    layout_of(reference))
            parts["reference"].append(profile_frame(reference, group_kinds, flags, baseline,
                                                    layout))
        del baseline, window  # the group's sorted values
    with watch.lap("decide"):
        current_profile, drift, reference_profile = (pl.concat(p) for p in parts.values())
        columns = evidently_decisions(drift, reference_profile, current_profile, categorical)
    emit(watch.result(columns=columns, skipped=skipped,
                      in_memory_bytes=reference.estimated_size() + current.estimated_size()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
