"""Refreshing monitors on real Delta tables: incremental equals full, idempotence, late and
deleted data recompute exactly the windows they touch, labels arriving later, snapshots,
baselines by slice, and data that must not crash a refresh."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.schema import BASELINE, CONSECUTIVE, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import BaselineTable, InferenceLog, LabelJoin, Monitor

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MONITOR = Monitor("gold.activity", "time_series", timestamp_col="ts",
                  slicing_exprs=("tier", "amount > 5"),
                  baseline=BaselineTable("gold.reference"))


def day_rows(day: int, n: int = 30, shift: float = 0.0, seed: int | None = None
             ) -> pl.DataFrame:
    rng = np.random.default_rng(day if seed is None else seed)
    return pl.DataFrame({
        "ts": [T0 + day * DAY + timedelta(minutes=int(m)) for m in rng.integers(0, 1440, n)],
        "amount": rng.normal(5 + shift, 2, n),
        "tier": np.array(["basic", "pro"])[rng.integers(0, 2, n)],
        "tags": [["a"]] * n,
    })


def new_table(catalog: Catalog, name: str, schema: pl.Schema) -> None:
    catalog.create_table(name, schema, TableInfo(owner="t"))


def lakehouse(root: Path) -> Catalog:
    catalog = Catalog(str(root), "dev")
    new_table(catalog, "gold.activity", day_rows(0).schema)
    new_table(catalog, "gold.reference", day_rows(0).schema)
    catalog.append("gold.reference", day_rows(0, n=200, seed=99))
    return catalog


def tables(catalog: Catalog, monitor: Monitor = MONITOR) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both metric tables in a stable order, without the commit version (which records when
    a row was computed, not what it holds)."""
    order = ["window", "slice_key", "slice_value", "column_name"]
    profile = (catalog.read(monitor.profile_metrics_table).drop("logging_table_commit_version")
               .sort(order, nulls_last=False))
    drift = catalog.read(monitor.drift_metrics_table).sort(["drift_type", *order],
                                                           nulls_last=False)
    return profile, drift


def starts(frame: pl.DataFrame) -> list[datetime]:
    return sorted(set(frame["window"].struct.field("start").to_list()))


def test_day_by_day_equals_one_full_refresh(tmp_path: Path) -> None:
    daily, full = lakehouse(tmp_path / "daily"), lakehouse(tmp_path / "full")
    for day in range(5):
        daily.append("gold.activity", day_rows(day, shift=6.0 * (day == 4)))
        result = refresh(daily, MONITOR)
        assert [w[0] for w in result.windows] == [T0 + day * DAY]
        full.append("gold.activity", day_rows(day, shift=6.0 * (day == 4)))
    result = refresh(full, MONITOR)
    assert result.full and [w[0] for w in result.windows] == [T0 + d * DAY for d in range(5)]
    daily_tables, full_tables = tables(daily), tables(full)
    assert daily_tables[0].equals(full_tables[0])
    assert daily_tables[1].equals(full_tables[1])
    profile, drift = full_tables
    # per window: (whole table + 2 tiers + each value of amount > 5) x (:table, amount, tier)
    above = [day_rows(d, shift=6.0 * (d == 4))["amount"].gt(5).n_unique() for d in range(5)]
    assert profile.height == sum(3 * (3 + k) for k in above) and above[4] == 1
    consecutive = drift.filter(pl.col("drift_type") == CONSECUTIVE)
    assert starts(consecutive) == [T0 + d * DAY for d in range(1, 5)]
    assert (consecutive["window_cmp"].struct.field("end")
            == consecutive["window"].struct.field("start")).all()
    assert starts(drift.filter(pl.col("drift_type") == BASELINE)) == [T0 + d * DAY
                                                                     for d in range(5)]
    js = drift.filter(pl.col("drift_type") == BASELINE, pl.col("column_name") == "amount",
                      pl.col("slice_key").is_null()).sort("window")["js_distance"].to_list()
    assert js[4] > 2 * max(js[:4])  # the shifted day drifts from the baseline


def test_refreshing_again_changes_nothing(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path)
    for day in range(3):
        catalog.append("gold.activity", day_rows(day))
    refresh(catalog, MONITOR)
    before = tables(catalog)
    versions = [catalog.version(MONITOR.profile_metrics_table),
                catalog.version(MONITOR.drift_metrics_table)]
    again = refresh(catalog, MONITOR)
    assert again.windows == [] and again.profile_rows == 0 and not again.full
    assert [catalog.version(MONITOR.profile_metrics_table),
            catalog.version(MONITOR.drift_metrics_table)] == versions
    assert refresh(catalog, MONITOR, full=True).full
    after = tables(catalog)
    assert before[0].equals(after[0]) and before[1].equals(after[1])


def test_late_and_deleted_rows_recompute_only_their_windows(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path)
    for day in range(5):
        catalog.append("gold.activity", day_rows(day))
    refresh(catalog, MONITOR)
    profile, drift = tables(catalog)
    catalog.append("gold.activity", day_rows(1, n=7, seed=42))  # late rows of day 1
    late = refresh(catalog, MONITOR)
    assert late.windows == [(T0 + DAY, T0 + 2 * DAY)] and not late.full
    new_profile, new_drift = tables(catalog)
    window = pl.col("window").struct.field("start")
    assert new_profile.filter(window != T0 + DAY).equals(profile.filter(window != T0 + DAY))
    count = new_profile.filter(window == T0 + DAY, pl.col("column_name") == TABLE_LEVEL,
                               pl.col("slice_key").is_null())["count"].item()
    assert count == 37
    # the drift of day 1 and of day 2 (whose CONSECUTIVE comparison is day 1) changed, no other
    untouched = ~window.is_in([T0 + DAY, T0 + 2 * DAY])
    assert new_drift.filter(untouched).equals(drift.filter(untouched))
    delta = new_drift.filter(window == T0 + 2 * DAY, pl.col("drift_type") == CONSECUTIVE,
                             pl.col("column_name") == TABLE_LEVEL,
                             pl.col("slice_key").is_null())["count_delta"].item()
    assert delta == 30 - 37

    catalog.delete("gold.activity", f"ts >= '{(T0 + 4 * DAY).isoformat()}'")
    deleted = refresh(catalog, MONITOR)
    assert deleted.windows == [(T0 + 4 * DAY, T0 + 5 * DAY)]
    assert starts(tables(catalog)[0]) == [T0 + d * DAY for d in range(4)]
    assert starts(tables(catalog)[1])[-1] == T0 + 3 * DAY


def test_an_empty_table_and_an_unsupported_column_do_not_crash(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path)
    empty = refresh(catalog, MONITOR)
    assert (empty.windows, empty.profile_rows, empty.drift_rows) == ([], 0, 0)
    assert any("has no rows: zero windows" in note for note in empty.notes)
    assert empty.skipped_columns == {"tags": "type List(String) cannot be profiled"}
    missing = refresh(catalog, Monitor("gold.nothing", "snapshot"))
    assert missing.table_version == -1 and "does not exist yet" in missing.notes[0]
    catalog.append("gold.activity", day_rows(0))
    first = refresh(catalog, MONITOR)
    assert first.profile_rows == 5 * 3
    assert set(tables(catalog)[0]["column_name"]) == {TABLE_LEVEL, "amount", "tier"}


def test_a_snapshot_is_one_window_per_table_version(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path)
    monitor = Monitor("gold.activity", "snapshot", slicing_exprs=("tier",),
                      baseline=BaselineTable("gold.reference"))
    catalog.append("gold.activity", day_rows(0))
    first = refresh(catalog, monitor)
    (start, end), = first.windows
    committed = catalog.history("gold.activity", 1)[0]["timestamp"]
    assert start == end == datetime.fromtimestamp(committed / 1000, tz=UTC)
    assert refresh(catalog, monitor).windows == []
    assert refresh(catalog, monitor, full=True).windows == first.windows
    catalog.append("gold.activity", day_rows(1))
    second = refresh(catalog, monitor)
    later = second.windows[0][0]
    assert later > start
    assert refresh(catalog, monitor, full=True).windows == second.windows  # keeps the first
    profile, drift = tables(catalog, monitor)
    assert starts(profile) == [start, later]
    consecutive = drift.filter(pl.col("drift_type") == CONSECUTIVE)
    assert starts(consecutive) == [later]  # against the snapshot before it
    assert all(cmp == {"start": start, "end": start}
               for cmp in consecutive["window_cmp"].to_list())
    assert consecutive.filter(pl.col("column_name") == TABLE_LEVEL,
                              pl.col("slice_key").is_null())["count_delta"].item() == 30
    counts = profile.filter(pl.col("column_name") == TABLE_LEVEL,
                            pl.col("slice_key").is_null()).sort("window")["count"].to_list()
    assert counts == [30, 60]
    # BASELINE per slice: the slice's rows against the baseline's rows of the same tier
    reference = catalog.read("gold.reference")
    current = catalog.read("gold.activity")
    for tier in ("basic", "pro"):
        delta = drift.filter(pl.col("window").struct.field("start") == later,
                             pl.col("drift_type") == BASELINE,
                             pl.col("slice_value") == tier,
                             pl.col("column_name") == TABLE_LEVEL)["count_delta"].item()
        assert delta == ((current["tier"] == tier).sum() - (reference["tier"] == tier).sum())


def test_labels_arriving_later_recompute_the_windows_they_label(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path), "dev")
    rng = np.random.default_rng(3)
    n = 40
    scored = pl.DataFrame({
        "customer_id": np.arange(2 * n) % n,
        "as_of": [T0] * n + [T0 + DAY] * n,
        "probability": rng.random(2 * n),
        "model_version": [1] * (2 * n),
        "vip": np.arange(2 * n) % 3 == 0,
    }).with_columns(prediction=pl.col("probability") >= 0.5)
    new_table(catalog, "churn.predictions", scored.schema)
    catalog.append("churn.predictions", scored)
    labels = pl.DataFrame({"customer_id": np.arange(n), "label_timestamp": [T0] * n,
                           "churned": rng.random(n) < 0.4})
    new_table(catalog, "silver.churn_labels", labels.schema)
    monitor = Monitor("churn.predictions", "inference_log", timestamp_col="as_of",
                      slicing_exprs=("vip",),
                      inference_log=InferenceLog(
                          "model_version", "prediction", "probability",
                          labels=LabelJoin("silver.churn_labels", ("customer_id",),
                                           "label_timestamp", "churned")))
    first = refresh(catalog, monitor)
    assert len(first.windows) == 2

    def label_counts() -> list[int]:
        profile = catalog.read(monitor.profile_metrics_table)
        return (profile.filter(pl.col("column_name") == TABLE_LEVEL,
                               pl.col("slice_key").is_null())
                .sort("window")["label_count"].to_list())

    assert label_counts() == [0, 0]
    catalog.append("silver.churn_labels", labels)  # the labels of day 0 land
    labelled = refresh(catalog, monitor)
    assert labelled.windows == [(T0, T0 + DAY)]
    assert label_counts() == [n, 0]
    profile = catalog.read(monitor.profile_metrics_table)
    table = profile.filter(pl.col("column_name") == TABLE_LEVEL,
                           pl.col("window").struct.field("start") == T0)
    whole = table.filter(pl.col("slice_key").is_null()).row(0, named=True)
    assert whole["roc_auc"] is not None and whole["predictive_parity"] is None
    vip = table.filter(pl.col("slice_value") == "true").row(0, named=True)
    assert vip["statistical_parity"] is not None  # a boolean slice gets the fairness metrics
    assert refresh(catalog, monitor).windows == []


def test_compaction_touches_no_window_and_vacuumed_changes_recompute_all(
        tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path)
    for day in range(3):
        catalog.append("gold.activity", day_rows(day))
    refresh(catalog, MONITOR)
    before = tables(catalog)
    catalog.optimize("gold.activity")  # rewrites every file: same rows, dataChange false
    compacted = refresh(catalog, MONITOR)
    assert compacted.windows == [] and not compacted.full
    catalog.overwrite("gold.activity", catalog.read("gold.activity"))  # same rows, new files
    catalog.vacuum("gold.activity", 0, enforce_retention_duration=False)
    recomputed = refresh(catalog, MONITOR)
    assert recomputed.full and len(recomputed.windows) == 3
    assert any("cannot be read" in note for note in recomputed.notes)
    after = tables(catalog)
    assert before[0].equals(after[0]) and before[1].equals(after[1])


def test_a_slicing_expression_the_rows_cannot_evaluate_is_left_out_naming_the_column(
        tmp_path: Path) -> None:
    """Its slices are omitted with the reason (the missing column named); the whole table,
    the other slices and their drift are computed."""
    catalog = lakehouse(tmp_path)
    for day in range(2):
        catalog.append("gold.activity", day_rows(day))
    monitor = Monitor("gold.activity", "time_series", timestamp_col="ts",
                      slicing_exprs=("tier", "lower(nope) = 'x'", "amount >>> 1"))

    result = refresh(catalog, monitor)

    assert result.failed_slices["lower(nope) = 'x'"] == (
        "column(s) 'nope' not in gold.activity (columns: ts, amount, tier, tags)")
    assert "amount >>> 1" in result.failed_slices
    assert ("slicing expression \"lower(nope) = 'x'\" cannot be evaluated on the rows of "
            "gold.activity: column(s) 'nope' not in gold.activity") in "; ".join(result.notes)
    assert len(result.windows) == 2
    profile, drift = tables(catalog, monitor)
    for frame in (profile, drift):
        assert sorted(set(frame["slice_key"].to_list()), key=str) == [None, "tier"]
    assert drift.filter(pl.col("slice_key") == "tier",
                        pl.col("drift_type") == CONSECUTIVE).height > 0


def test_a_recreated_table_is_refreshed_whole(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path)
    for day in range(3):
        catalog.append("gold.activity", day_rows(day))
    refresh(catalog, MONITOR)
    shutil.rmtree(catalog.location("gold.activity"))
    new_table(catalog, "gold.activity", day_rows(0).schema)
    catalog.append("gold.activity", day_rows(5))  # version 1, before the 3 read last
    result = refresh(catalog, MONITOR)
    assert result.full and any("(recreated)" in note for note in result.notes)
    assert starts(tables(catalog)[0]) == [T0 + 5 * DAY]


def test_a_label_touches_the_windows_within_its_tolerance(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path), "dev")
    scored = pl.DataFrame({"customer_id": [1] * 5, "as_of": [T0 + d * DAY for d in range(5)],
                           "probability": [0.2, 0.4, 0.6, 0.8, 0.9],
                           "model_version": [1] * 5}).with_columns(
        prediction=pl.col("probability") >= 0.5)
    new_table(catalog, "churn.predictions", scored.schema)
    catalog.append("churn.predictions", scored)
    label = pl.DataFrame({"customer_id": [1], "label_timestamp": [T0 + 2 * DAY],
                          "churned": [True]})
    monitor = Monitor("churn.predictions", "inference_log", timestamp_col="as_of",
                      inference_log=InferenceLog(
                          "model_version", "prediction", "probability",
                          labels=LabelJoin("silver.churn_labels", ("customer_id",),
                                           "label_timestamp", "churned", tolerance=DAY)))
    unlabelled = refresh(catalog, monitor)  # before the label table exists
    assert len(unlabelled.windows) == 5
    assert "labels table silver.churn_labels does not exist yet: no realized quality" in (
        unlabelled.notes)
    new_table(catalog, "silver.churn_labels", label.schema)
    catalog.append("silver.churn_labels", label)
    touched = refresh(catalog, monitor)
    # the scores one day either side of the label may take it: their windows are redone
    assert [w[0] for w in touched.windows] == [T0 + d * DAY for d in (1, 2, 3)]


def test_a_long_history_is_computed_in_bounded_chunks_equal_to_one_pass(
        tmp_path: Path) -> None:
    """A first refresh over more windows than `max_chunk_windows` computes them in chunks,
    each holding its windows and their neighbours only; the tables equal one pass's."""
    chunked, whole = lakehouse(tmp_path / "chunked"), lakehouse(tmp_path / "whole")
    for day in range(7):
        for catalog in (chunked, whole):
            catalog.append("gold.activity", day_rows(day, shift=6.0 * (day >= 4)))

    result = refresh(chunked, MONITOR, max_chunk_windows=2)

    assert result.chunks == 4 and len(result.windows) == 7
    assert "7 windows computed in 4 chunks of at most 2 (each written before the next is read)" \
        in result.notes
    assert result.max_rows_read <= 4 * 30 < 7 * 30  # 2 windows and a neighbour either side
    one_pass = refresh(whole, MONITOR)
    assert one_pass.chunks == 1 and one_pass.max_rows_read == 7 * 30
    assert (result.profile_rows, result.drift_rows) == (one_pass.profile_rows,
                                                        one_pass.drift_rows)
    for got, want in zip(tables(chunked), tables(whole), strict=True):
        assert got.equals(want)
