"""Tests that kill mutants the `monitoring` mutation group's tests let survive (bench/MUTATION.md,
"monitoring"): exact values at the boundaries of the statistics and of the decisions built on
them (a threshold exactly met, a bound exactly reached, a cooldown exactly over). Metric tables
are real Delta tables written with hand-made rows."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.monitoring.drift import drift_rows
from lakehouse_ml.monitoring.levels import (
    LEVELS,
    WindowDrift,
    categorical,
    drift_levels,
    latest_drift,
)
from lakehouse_ml.monitoring.quality import fairness_columns, with_labels
from lakehouse_ml.monitoring.schema import (
    CONSECUTIVE,
    DRIFT_METRICS,
    PROFILE_METRICS,
    TABLE_LEVEL,
)
from lakehouse_ml.monitoring.spec import (
    DriftThreshold,
    InferenceLog,
    LabelJoin,
    Monitor,
    RetrainingPolicy,
)
from lakehouse_ml.monitoring.triggers import (
    MAX_EVIDENCE,
    MAX_NAME,
    Decision,
    Quality,
    decide,
    states,
)
from lakehouse_ml.monitoring.windows import missing_columns, window_of, window_start

from .drift_frames import DAY, drift_frame, drift_row, window
from .test_quality import OWN
from .test_triggers_pii import MONITOR

NOW = DAY + timedelta(days=30)


def _day(day: int) -> datetime:
    return DAY + timedelta(days=day)


def _stamp(day: int) -> str:
    return _day(day).isoformat().replace("+00:00", "Z")


def _append(catalog: Catalog, table: str, schema: pl.Schema, frame: pl.DataFrame) -> None:
    if not catalog.exists(table):
        catalog.create_table(table, schema, TableInfo(owner="team:ml"))
    catalog.append(table, frame)


def drifts(catalog: Catalog, day: int, **js: float) -> None:
    """One BASELINE window of the inference log's drift table: column -> JS distance."""
    _append(catalog, MONITOR.drift_metrics_table, DRIFT_METRICS, drift_frame(
        *(drift_row(c, js_distance=v, start=_day(day)) for c, v in js.items())))


def scores(catalog: Catalog, day: int, *rows: dict) -> None:
    """`:table` rows (no slice) of one window of the inference log's profile table."""
    _append(catalog, MONITOR.profile_metrics_table, PROFILE_METRICS, pl.DataFrame(
        [{"window": window(_day(day)), "granularity": "1 day", "column_name": TABLE_LEVEL,
          **row} for row in rows], schema=PROFILE_METRICS))


def decision(catalog: Catalog, policy: RetrainingPolicy, *,
             last_launch: datetime | None = None, launched: str | None = None) -> Decision:
    return decide(catalog, policy, MODEL, [MONITOR], last_launch=last_launch,
                  launched=lambda episode: episode == launched, now=NOW)


# triggers: the decisions at their bounds

def test_exactly_min_columns_at_the_error_bound_launch_and_one_fewer_does_not(
        catalog: Catalog) -> None:
    policy = RetrainingPolicy(MODEL.name, min_columns=2)
    drifts(catalog, 0, sessions_30d=0.2, events_7d=0.2, tenure_days=0.19999)  # WARN: no count
    found = decision(catalog, policy)
    assert found.outcome == "launch" and found.episode == f"{MODEL.name}@{_stamp(0)}"
    assert found.reason == (f"window {_stamp(0)}: 2 input column(s) at ERROR drift (needs 2): "
                            "events_7d js_distance=0.2, sessions_30d js_distance=0.2")
    assert [(d["column"], d["value"], d["threshold"], d["level"])
            for d in found.evidence["drifting"]] == [
        ("events_7d", 0.2, 0.2, "ERROR"), ("sessions_30d", 0.2, 0.2, "ERROR")]

    drifts(catalog, 1, sessions_30d=0.2, events_7d=0.19999)
    assert decision(catalog, policy).reason == (
        f"no breach, window {_stamp(1)}: 1 input column(s) at ERROR drift (needs 2): "
        "sessions_30d js_distance=0.2")


def test_a_warn_policy_counts_warn_and_error_columns(catalog: Catalog) -> None:
    drifts(catalog, 0, sessions_30d=0.1, events_7d=0.5, tenure_days=0.09999)
    found = decision(catalog, RetrainingPolicy(MODEL.name, on_drift_level="WARN",
                                               min_columns=2))
    assert found.launch
    assert [(d["column"], d["level"]) for d in found.evidence["drifting"]] == [
        ("events_7d", "ERROR"), ("sessions_30d", "WARN")]


def test_a_roc_auc_exactly_at_the_bound_is_no_breach_and_just_below_is(
        catalog: Catalog) -> None:
    policy = RetrainingPolicy(MODEL.name, on_drift_level=None, min_roc_auc=0.65)
    drifts(catalog, 0, sessions_30d=0.9)  # drift is not watched by this policy
    scores(catalog, 0, {"roc_auc": 0.65, "estimated_roc_auc": 0.1})  # realized first
    assert decision(catalog, policy).reason == (
        f"no breach, window {_stamp(0)}: roc_auc 0.650 (bound 0.65)")
    scores(catalog, 1, {"estimated_roc_auc": 0.6499})
    found = decision(catalog, policy)
    assert found.outcome == "launch" and found.episode == f"{MODEL.name}@{_stamp(1)}"
    assert found.evidence["roc_auc"] == {"value": 0.6499, "source": "estimated_roc_auc",
                                         "window": [_stamp(1), _stamp(2)]}


def test_without_an_overall_row_the_worst_models_roc_auc_counts(catalog: Catalog) -> None:
    policy = RetrainingPolicy(MODEL.name, on_drift_level=None, min_roc_auc=0.65)
    scores(catalog, 0, {"model_id": "1", "roc_auc": 0.9}, {"model_id": "2", "roc_auc": 0.6})
    assert decision(catalog, policy).reason == f"window {_stamp(0)}: roc_auc 0.600 (bound 0.65)"
    scores(catalog, 1, {"model_id": "1", "roc_auc": 0.5}, {"roc_auc": 0.7})  # overall: 0.7
    assert decision(catalog, policy).outcome == "no_breach"


def test_of_a_windows_models_the_lowest_roc_auc_counts_and_of_equal_ones_the_realized(
        catalog: Catalog) -> None:
    """Whatever order the rows were written in: each window's value is its lowest model's,
    and of two equal values the realized one (not the estimate) is reported."""
    scores(catalog, 0, {"model_id": "1", "roc_auc": 0.9},
           {"model_id": "2", "estimated_roc_auc": 0.6}, {"model_id": "3", "roc_auc": 0.6},
           {"model_id": "4", "roc_auc": 0.7})
    scores(catalog, 1, {"model_id": "1", "roc_auc": 0.6},
           {"model_id": "2", "estimated_roc_auc": 0.6}, {"model_id": "3", "roc_auc": 0.9})
    scores(catalog, 2, {"model_id": "1", "estimated_roc_auc": 0.8},
           {"model_id": "2", "estimated_roc_auc": 0.5})
    policy = RetrainingPolicy(MODEL.name, on_drift_level=None, min_roc_auc=0.65)
    found = states(catalog, policy, MODEL, [MONITOR])
    assert [s.quality for s in found] == [
        Quality(0.6, "roc_auc", (_day(d), _day(d + 1))) for d in (0, 1)] + [
        Quality(0.5, "estimated_roc_auc", (_day(2), _day(3)))]


def test_the_cooldown_holds_until_exactly_its_end(catalog: Catalog) -> None:
    policy = RetrainingPolicy(MODEL.name, cooldown=timedelta(hours=6))
    drifts(catalog, 0, sessions_30d=0.3)
    held = decision(catalog, policy, last_launch=NOW - timedelta(hours=6) + timedelta(
        microseconds=1))
    assert held.outcome == "cooldown" and held.reason.startswith(
        "in cooldown until 2026-04-09T00:00:00.000001Z (last launch "
        "2026-04-08T18:00:00.000001Z); window ")
    assert decision(catalog, policy, last_launch=NOW - timedelta(hours=6)).launch


def test_an_episode_starts_after_the_last_window_without_breach(catalog: Catalog) -> None:
    policy = RetrainingPolicy(MODEL.name)
    for day, js in enumerate((0.3, 0.05, 0.3, 0.25)):
        drifts(catalog, day, sessions_30d=js)
    episode = f"{MODEL.name}@{_stamp(2)}"
    found = decision(catalog, policy)
    assert found.episode == episode and found.evidence["episode_start"] == _stamp(2)
    assert found.evidence["window_start"] == _stamp(3)
    again = decision(catalog, policy, launched=episode)
    assert again.outcome == "episode_launched" and again.reason.startswith(
        f"episode {episode} already launched a run; window {_stamp(3)}")


def test_evidence_json_keeps_the_columns_that_fit_and_counts_the_rest(
        catalog: Catalog) -> None:
    drifts(catalog, 0, **{f"{'x' * 60}_{i:02}": 0.9 for i in range(40)})
    found = decision(catalog, RetrainingPolicy(MODEL.name))
    text = found.evidence_json()
    kept = json.loads(text)
    assert len(text) <= MAX_EVIDENCE < len(json.dumps(found.evidence, separators=(",", ":")))
    count = len(kept["drifting"])
    assert count > 0 and count + kept["more_columns"] == 40
    assert kept["drifting"] == found.evidence["drifting"][:count]
    one_more = {**found.evidence, "drifting": found.evidence["drifting"][:count + 1],
                "more_columns": 39 - count}
    assert len(json.dumps(one_more, separators=(",", ":"))) > MAX_EVIDENCE
    quiet = Decision("no_breach", "r", evidence={"model": "m", "drifting": []})
    assert quiet.evidence_json() == '{"model":"m","drifting":[]}'  # no more_columns


def test_only_model_inputs_of_its_own_inference_logs_count(catalog: Catalog) -> None:
    """The log's own columns, the lookup key and the label are no inputs, whatever their
    drift; a monitor without an inference log, or of another model's, is not read."""
    other = Monitor("gold.other_scores", "inference_log", timestamp_col="as_of",
                    inference_log=replace(MONITOR.inference_log, model="other_clf"))
    _append(catalog, other.drift_metrics_table, DRIFT_METRICS,
            drift_frame(drift_row("sessions_30d", js_distance=0.9)))
    drifts(catalog, 0, probability=0.9, prediction=0.9, model_version=0.9, as_of=0.9,
           customer_id=0.9, scored_at=0.9, churned=0.9, sessions_30d=0.05)
    monitors = [Monitor("gold.features", "snapshot"), other, MONITOR]
    found = decide(catalog, RetrainingPolicy(MODEL.name), MODEL, monitors, last_launch=None,
                   launched=lambda _: False, now=NOW)
    assert found.reason == f"no breach, window {_stamp(0)}: 0 input column(s) at ERROR drift " \
                           "(needs 1)"


def test_consecutive_rows_alone_give_no_baseline(catalog: Catalog) -> None:
    _append(catalog, MONITOR.drift_metrics_table, DRIFT_METRICS, drift_frame(
        drift_row("sessions_30d", js_distance=0.9, drift_type=CONSECUTIVE)))
    assert decision(catalog, RetrainingPolicy(MODEL.name)).outcome == "no_baseline"


def test_names_are_cut_to_max_name_characters_ending_in_dots(catalog: Catalog) -> None:
    fits, cut = "f" * MAX_NAME, "c" * (MAX_NAME + 1)
    drifts(catalog, 0, **{fits: 0.9, cut: 0.9})
    columns = [d["column"] for d in decision(catalog, RetrainingPolicy(MODEL.name))
               .evidence["drifting"]]
    assert columns == ["c" * (MAX_NAME - 3) + "...", fits]


# quality: label keys of another integer type, and text keys

def test_labels_join_on_a_narrower_integer_key_and_a_text_key(catalog: Catalog) -> None:
    labels = pl.DataFrame({"customer_id": [1, 2], "country": ["FR", "FR"],
                           "label_timestamp": [DAY, DAY], "churned": [True, False]},
                          schema_overrides={"customer_id": pl.Int32,
                                            "label_timestamp": pl.Datetime("us", "UTC")})
    _append(catalog, "silver.labels_by_country", labels.schema, labels)
    spec = InferenceLog(model_id_col="model_version", prediction_col="prediction",
                        probability_col="probability", labels=LabelJoin(
                            "silver.labels_by_country", ("customer_id", "country"),
                            "label_timestamp", "churned"))
    scored = pl.DataFrame({"customer_id": [1, 2, 2], "country": ["FR", "FR", "DE"],
                           "as_of": [DAY] * 3, "probability": 0.5, "prediction": True,
                           "model_version": 1})
    assert with_labels(catalog, scored, spec, "as_of")["label"].to_list() == [True, False, None]


def test_a_label_time_of_another_type_is_an_error_naming_the_labels_table(
        catalog: Catalog) -> None:
    labels = pl.DataFrame({"customer_id": [1], "label_timestamp": ["2026-03-10"],
                           "churned": [True]})
    _append(catalog, "silver.churn_labels", labels.schema, labels)
    spec = InferenceLog(model_id_col="model_version", prediction_col="prediction",
                        probability_col="probability", labels=LabelJoin(
                            "silver.churn_labels", ("customer_id",), "label_timestamp",
                            "churned"))
    scored = pl.DataFrame({"customer_id": [1], "as_of": [DAY]})
    with pytest.raises(ValueError, match="^labels table silver.churn_labels: timestamp column "
                                         "'label_timestamp' is String, not a Date or Datetime$"):
        with_labels(catalog, scored, spec, "as_of")


# quality: fairness when only the protected group's rate is undefined

def test_fairness_is_null_where_only_the_member_group_has_no_denominator() -> None:
    frame = pl.DataFrame({"probability": [0.2, 0.3, 0.9, 0.1],
                          "label": [False, False, True, False], "prediction": [False] * 4})
    got = fairness_columns(frame, pl.Series([True, True, False, False]), OWN)
    assert got == {"predictive_parity": None, "predictive_equality": 0.0,
                   "equal_opportunity": None, "statistical_parity": -0.5}


def test_a_window_before_a_monitors_first_has_no_value_of_it(catalog: Catalog) -> None:
    """The profile table starts a day after the drift table: its first low AUC does not
    reach back into the window before it, so the episode starts at the AUC's window."""
    drifts(catalog, 0, sessions_30d=0.05)
    drifts(catalog, 1, sessions_30d=0.05)
    scores(catalog, 1, {"roc_auc": 0.5})
    found = decision(catalog, RetrainingPolicy(MODEL.name, min_roc_auc=0.65))
    assert found.launch and found.episode == f"{MODEL.name}@{_stamp(1)}"


def test_the_worst_roc_auc_over_the_models_inference_logs_counts(catalog: Catalog) -> None:
    second = replace(MONITOR, table="churn.inference_log_eu")
    scores(catalog, 0, {"roc_auc": 0.9})
    _append(catalog, second.profile_metrics_table, PROFILE_METRICS, pl.DataFrame(
        [{"window": window(_day(0)), "granularity": "1 day", "column_name": TABLE_LEVEL,
          "roc_auc": 0.6}], schema=PROFILE_METRICS))
    found = decide(catalog, RetrainingPolicy(MODEL.name, on_drift_level=None, min_roc_auc=0.65),
                   MODEL, [MONITOR, second], last_launch=None, launched=lambda _: False, now=NOW)
    assert found.launch and found.evidence["roc_auc"]["value"] == 0.6


def test_a_slices_roc_auc_is_not_the_models(catalog: Catalog) -> None:
    scores(catalog, 0, {"roc_auc": 0.8},
           {"slice_key": "plan_tier", "slice_value": "basic", "roc_auc": 0.1})
    found = decision(catalog, RetrainingPolicy(MODEL.name, on_drift_level=None,
                                               min_roc_auc=0.65))
    assert found.reason == f"no breach, window {_stamp(0)}: roc_auc 0.800 (bound 0.65)"


# levels: each column under its own threshold, in a stable order

def test_each_column_is_judged_by_its_own_threshold_only() -> None:
    """Columns of one dtype, and names that run into a dtype, do not share thresholds."""
    monitor = Monitor("gold.t", "snapshot", thresholds={
        "tenure": DriftThreshold("ks_test.pvalue", warn=0.05, error=0.01),
        "aFloat64": DriftThreshold("population_stability_index", warn=0.1, error=0.25)})
    found = drift_levels(drift_frame(
        drift_row("tenure", js_distance=0.9, ks_test=(0.1, 0.5)),
        drift_row("a", js_distance=0.0, population_stability_index=0.9),
        drift_row("aFloat64", data_type=None, js_distance=0.9)), monitor)
    assert found.is_empty()


def test_levels_are_sorted_by_window_start_slice_key_slice_value_and_column() -> None:
    rows = [("a", 1, None, None), ("z", 0, None, None), ("y", 0, None, None),
            ("a", 0, "k2", "v1"), ("a", 0, "k1", "v9"), ("b", 0, "k1", "v2")]
    found = drift_levels(drift_frame(*(
        drift_row(column, js_distance=0.5, start=_day(day), slice_key=key, slice_value=value)
        for column, day, key, value in rows)), Monitor("gold.t", "snapshot"))
    assert list(zip(found["window"].struct.field("start"), found["slice_key"],
                    found["slice_value"], found["column_name"], strict=True)) == [
        (_day(0), None, None, "y"), (_day(0), None, None, "z"), (_day(0), "k1", "v2", "b"),
        (_day(0), "k1", "v9", "a"), (_day(0), "k2", "v1", "a"), (_day(1), None, None, "a")]


def test_a_column_is_categorical_when_declared_or_of_a_text_boolean_or_category_dtype(
) -> None:
    monitor = Monitor("gold.t", "snapshot", categorical=("zip",))
    assert [categorical(monitor, column, data_type) for column, data_type in (
        ("zip", "Int64"), ("zip", None), ("a", "String"), ("a", "BOOLEAN"), ("a", "Enum([])"),
        ("a", "Categorical"), ("a", "Utf8"), ("a", "Int64"), ("a", None), ("a", ""))] == [
        True, True, True, True, True, True, True, False, False, False]


def test_windows_of_another_time_unit_are_flagged_in_microseconds() -> None:
    """A drift frame written with nanosecond windows (another writer's) is read, not refused."""
    frame = drift_frame(drift_row("a", js_distance=0.5))
    nanoseconds = pl.Datetime("ns", "UTC")
    found = drift_levels(frame.with_columns(pl.col("window").cast(
        pl.Struct({"start": nanoseconds, "end": nanoseconds}))), Monitor("gold.t", "snapshot"))
    assert found.schema == LEVELS
    assert found.select("window", "column_name", "level").rows() == [(window(), "a", "ERROR")]


# levels: the latest window the checks and the report show

def _nothing(found: WindowDrift) -> tuple:
    return (found.drift_type, found.window, found.drift.schema, found.drift.height,
            found.levels.schema, found.levels.height)


def test_latest_drift_takes_the_latest_window_of_the_monitors_drift_type(
        catalog: Catalog) -> None:
    monitor = Monitor("gold.features", "snapshot")  # no baseline: CONSECUTIVE
    table = monitor.drift_metrics_table
    absent = latest_drift(catalog, monitor)
    assert _nothing(absent) == (CONSECUTIVE, None, DRIFT_METRICS, 0, LEVELS, 0)
    assert absent.nothing_to_compare == (f"{table} does not exist yet: the monitor of "
                                         "gold.features has not been refreshed")
    _append(catalog, table, DRIFT_METRICS, drift_frame(drift_row("a", js_distance=0.9)))
    no_rows = latest_drift(catalog, monitor)
    assert _nothing(no_rows) == (CONSECUTIVE, None, DRIFT_METRICS, 0, LEVELS, 0)
    assert no_rows.nothing_to_compare == (
        f"{table} has no CONSECUTIVE drift rows: no window has a previous window to compare")
    _append(catalog, table, DRIFT_METRICS, drift_frame(
        drift_row("a", js_distance=0.3, drift_type=CONSECUTIVE, start=_day(1)),
        drift_row("b", js_distance=0.15, drift_type=CONSECUTIVE, start=_day(1)),
        drift_row("a", js_distance=0.9, drift_type=CONSECUTIVE)))
    found = latest_drift(catalog, monitor)
    assert found.nothing_to_compare is None and found.window == (_day(1), _day(2))
    assert found.drift_type == CONSECUTIVE
    assert sorted(found.drift["column_name"]) == [TABLE_LEVEL, "a", "b"]
    assert list(zip(found.levels["column_name"], found.levels["level"], strict=True)) == [
        ("a", "ERROR"), ("b", "WARN")]
    _append(catalog, table, DRIFT_METRICS, drift_frame(
        drift_row(TABLE_LEVEL, data_type=None, drift_type=CONSECUTIVE, start=_day(2))))
    only_table = latest_drift(catalog, monitor)
    assert only_table.window == (_day(2), _day(3)) and only_table.nothing_to_compare == (
        f"{table}: the window starting {_day(2).isoformat()} has no column's CONSECUTIVE "
        "drift (only its table-level row)")


def test_latest_drift_of_a_monitor_with_a_baseline_reads_baseline_rows_only(
        catalog: Catalog) -> None:
    _append(catalog, MONITOR.drift_metrics_table, DRIFT_METRICS, drift_frame(
        drift_row("a", js_distance=0.9, drift_type=CONSECUTIVE)))
    found = latest_drift(catalog, MONITOR)
    assert found.drift_type == "BASELINE" and found.nothing_to_compare == (
        f"{MONITOR.drift_metrics_table} has no BASELINE drift rows: the baseline could not be "
        "read or no window was compared with it")


# drift: a column one side lacks

def test_a_temporal_column_absent_from_the_reference_counts_only_the_current_side() -> None:
    current = pl.DataFrame({"seen": [datetime(2026, 3, 1, tzinfo=UTC), None, None]})
    (row,) = drift_rows(current, pl.DataFrame({"other": [1]}), {"seen": False}).filter(
        pl.col("column_name") == "seen").iter_rows(named=True)
    assert (row["count_delta"], row["percent_null_delta"]) == (1.0, None)
    assert row["data_type"] == "Datetime(time_unit='us', time_zone='UTC')"
    assert row["js_distance"] is None and row["ks_test"] is None


# windows: the window of a moment, and the columns a slicing expression lacks

def test_a_moment_one_microsecond_before_midnight_far_from_the_epoch_stays_in_its_day() -> None:
    """9000 years of microseconds pass 2**53: computed in floats, 23:59:59.999999 rounds up
    to the next midnight and lands in the next day's window."""
    moment = datetime(9000, 6, 1, 23, 59, 59, 999999, tzinfo=UTC)
    day = timedelta(days=1)
    assert window_of(moment, day) == (datetime(9000, 6, 1, tzinfo=UTC),
                                      datetime(9000, 6, 2, tzinfo=UTC))
    assert pl.select(window_start(pl.lit(moment), day)).item() == datetime(9000, 6, 1,
                                                                           tzinfo=UTC)


def test_missing_columns_of_a_slicing_expression_are_named_sorted() -> None:
    assert missing_columns("upper(country) = 'FR' and zone > plan_tier", ["plan_tier"]) == [
        "country", "zone"]
    assert missing_columns("plan_tier", ["plan_tier"]) == []
    assert missing_columns("not ( valid sql", ["plan_tier"]) == []
