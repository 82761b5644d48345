"""Drift levels from hand-made drift-metrics tables: thresholds per column, p-values lower is
worse, NULL metrics and `:table` rows never flagged, slices and drift types kept apart."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from lakehouse_ml.monitoring.levels import LEVELS, categorical, drift_levels
from lakehouse_ml.monitoring.schema import CONSECUTIVE
from lakehouse_ml.monitoring.spec import DriftThreshold, Monitor

from .drift_frames import DAY, drift_frame, drift_row

MONITOR = Monitor("gold.features", "snapshot", categorical=("plan_code",), thresholds={
    "tenure": DriftThreshold("ks_test.pvalue", warn=0.05, error=0.01),
    "spend": DriftThreshold("population_stability_index", warn=0.1, error=0.25),
})


def levels(*rows: dict, **options: str) -> dict[tuple, tuple]:
    found = drift_levels(drift_frame(*rows), MONITOR, **options)
    assert found.schema == LEVELS
    return {(r["column_name"], r["slice_key"], r["slice_value"]): (r["level"], r["metric"],
                                                                   r["threshold"])
            for r in found.iter_rows(named=True)}


def test_default_threshold_is_js_distance_at_and_above_its_bounds() -> None:
    found = levels(drift_row("a", js_distance=0.09), drift_row("b", js_distance=0.1),
                   drift_row("c", js_distance=0.19999), drift_row("d", js_distance=0.2),
                   drift_row("e", js_distance=0.7))
    assert found == {("b", None, None): ("WARN", "js_distance", 0.1),
                     ("c", None, None): ("WARN", "js_distance", 0.1),
                     ("d", None, None): ("ERROR", "js_distance", 0.2),
                     ("e", None, None): ("ERROR", "js_distance", 0.2)}


def test_p_values_are_flagged_at_or_below_their_thresholds() -> None:
    frame = drift_levels(drift_frame(
        drift_row("tenure", ks_test=(0.5, 0.2), js_distance=0.9, start=DAY),
        drift_row("tenure", ks_test=(0.5, 0.05), start=DAY + timedelta(days=1)),
        drift_row("tenure", ks_test=(0.5, 0.001), start=DAY + timedelta(days=2))), MONITOR)
    # the declared threshold replaces the default: js 0.9 on the first day is not looked at
    assert frame["level"].to_list() == ["WARN", "ERROR"]
    assert frame["value"].to_list() == [0.05, 0.001]
    assert frame["window"].struct.field("start").to_list() == [DAY + timedelta(days=1),
                                                              DAY + timedelta(days=2)]
    assert set(frame["metric"]) == {"ks_test.pvalue"}


def test_declared_distance_threshold_and_null_metric() -> None:
    found = levels(drift_row("spend", population_stability_index=0.3, js_distance=0.0),
                   drift_row("quiet", js_distance=None, ks_test=(None, None)))
    assert found == {("spend", None, None): ("ERROR", "population_stability_index", 0.25)}


def test_slices_are_flagged_separately_and_table_rows_never() -> None:
    frame = drift_frame(
        drift_row("plan_code", data_type="Int64", js_distance=0.15, slice_key="country",
                  slice_value="DE"),
        drift_row("plan_code", data_type="Int64", js_distance=0.01, slice_key="country",
                  slice_value="FR"),
        drift_row("plan_code", data_type="Int64", js_distance=0.3),
    )
    frame = frame.with_columns(js_distance=pl.col("js_distance").fill_null(0.9))  # :table too
    found = drift_levels(frame, MONITOR)
    assert sorted(zip(found["slice_value"].to_list(), found["level"].to_list(),
                      strict=True), key=str) == [("DE", "WARN"), (None, "ERROR")]
    assert ":table" not in found["column_name"].to_list()


def test_only_the_asked_drift_type() -> None:
    rows = (drift_row("a", js_distance=0.5), drift_row("b", js_distance=0.5,
                                                       drift_type=CONSECUTIVE))
    assert set(levels(*rows)) == {("a", None, None)}
    assert set(levels(*rows, drift_type=CONSECUTIVE)) == {("b", None, None)}


def test_nothing_flagged_is_an_empty_frame_of_the_levels_schema() -> None:
    found = drift_levels(drift_frame(drift_row("a", js_distance=0.0)), MONITOR)
    assert found.is_empty() and found.schema == LEVELS


def test_categorical_kind_picks_the_categorical_default() -> None:
    monitor = Monitor("gold.t", "snapshot", categorical=("code",))
    assert categorical(monitor, "code", "Int64")
    assert categorical(monitor, "country", "String") and categorical(monitor, "x", "Boolean")
    assert not categorical(monitor, "spend", "Float64")


def test_unknown_metric_is_a_value_error_naming_it() -> None:
    monitor = Monitor("gold.t", "snapshot",
                      thresholds={"a": DriftThreshold("ks_test.p", warn=0.1, error=0.01)})
    with pytest.raises(ValueError, match="'ks_test.p'"):
        drift_levels(drift_frame(drift_row("a", js_distance=0.5)), monitor)


def test_max_pvalue_flags_a_distance_only_when_its_test_agrees() -> None:
    gated = Monitor("gold.features", "snapshot", thresholds={
        c: DriftThreshold("js_distance", warn=0.1, error=0.2, max_pvalue=0.05)
        for c in ("n_small", "n_large", "n_edge", "c_small", "c_large", "untested", "near")})
    found = drift_levels(drift_frame(
        drift_row("n_small", js_distance=0.3, ks_test=(0.2, 0.4)),  # small windows: noise
        drift_row("n_large", js_distance=0.3, ks_test=(0.2, 0.001)),
        drift_row("n_edge", js_distance=0.15, ks_test=(0.2, 0.05)),  # at the bound: flagged
        drift_row("c_small", data_type="String", js_distance=0.3, chi_squared_test=(3.0, 0.3)),
        drift_row("c_large", data_type="String", js_distance=0.3,
                  chi_squared_test=(30.0, 0.0001)),
        drift_row("untested", js_distance=0.3),  # no p-value: the distance decides
        drift_row("near", js_distance=0.05, ks_test=(0.1, 0.0001)),  # the test alone: no
    ), gated)
    assert dict(zip(found["column_name"], found["level"], strict=True)) == {
        "n_large": "ERROR", "n_edge": "WARN", "c_large": "ERROR", "untested": "ERROR"}
    assert found.filter(pl.col("column_name") == "n_large")["value"].to_list() == [0.3]
