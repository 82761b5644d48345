"""Tests that kill mutants the `monitoring` mutation group's tests let survive (bench/MUTATION.md,
"monitoring"): exact values at the boundaries of the statistics and of the decisions built on
them (a threshold exactly met, a bound exactly reached, a cooldown exactly over). Metric tables
are real Delta tables written with hand-made rows."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.monitoring.schema import DRIFT_METRICS, PROFILE_METRICS, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import RetrainingPolicy
from lakehouse_ml.monitoring.triggers import Decision, decide

from .drift_frames import DAY, drift_frame, drift_row, window
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
