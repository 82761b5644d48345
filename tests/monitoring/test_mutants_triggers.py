"""The retraining decision's reason, evidence and outcomes field by field (`triggers.decide`,
`Decision.evidence_json`), on real Delta metric tables with hand-made rows: the tests that kill
the mutants of the functions the `monitoring` mutation group's tests did not reach before, or
let survive (bench/MUTATION.md, "monitoring")."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.monitoring.schema import DRIFT_METRICS, PROFILE_METRICS, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import RetrainingPolicy
from lakehouse_ml.monitoring.triggers import (
    MAX_EVIDENCE,
    MAX_NAME,
    MAX_REASON,
    Decision,
    decide,
)

from .drift_frames import drift_frame, drift_row, window
from .test_mutants_monitoring import NOW, _append, _day, _stamp, decision, drifts, scores
from .test_triggers_pii import MONITOR

LONG = "t" * (MAX_NAME + 6)
"""A column name longer than MAX_NAME (cut in the evidence) and than 32 (cut in the reason)."""


def _two_drifting_windows(catalog: Catalog) -> None:
    """Day 0: two columns at WARN; day 1: sessions_30d at WARN with five flagged slices, LONG
    at ERROR, events_7d flagged in a slice only (not counted)."""
    catalog.create_table(MONITOR.table, pl.Schema({"plan_tier": pl.String}),
                         TableInfo(owner="team:ml"))  # known, no pii: slice values shown
    drifts(catalog, 0, sessions_30d=0.15, events_7d=0.15)
    _append(catalog, MONITOR.drift_metrics_table, DRIFT_METRICS, drift_frame(
        drift_row("sessions_30d", js_distance=0.123456, start=_day(1)),
        drift_row(LONG, js_distance=0.5, start=_day(1)),
        *(drift_row("sessions_30d", js_distance=0.9, start=_day(1), slice_key="plan_tier",
                    slice_value=f"p{i}") for i in (4, 2, 0, 3, 1)),
        drift_row("events_7d", js_distance=0.9, start=_day(1), slice_key="plan_tier",
                  slice_value="basic")))


def test_a_launch_gives_every_field_of_its_evidence_and_its_summary(catalog: Catalog) -> None:
    _two_drifting_windows(catalog)
    scores(catalog, 1, {"roc_auc": 0.712345, "estimated_roc_auc": 0.1})
    policy = RetrainingPolicy(MODEL.name, on_drift_level="WARN", min_columns=2,
                              min_roc_auc=0.75, cooldown=timedelta(minutes=90))
    found = decision(catalog, policy)
    day_1 = [_stamp(1), _stamp(2)]
    assert found == Decision(
        "launch", f"window {_stamp(1)}: 2 input column(s) at WARN drift (needs 2): "
                  f"sessions_30d js_distance=0.123, {'t' * 29}... js_distance=0.5; roc_auc "
                  "0.712 (bound 0.75)",
        f"{MODEL.name}@{_stamp(0)}",
        {"model": MODEL.name, "window_start": _stamp(1), "episode_start": _stamp(0),
         "policy": {"on_drift_level": "WARN", "min_columns": 2, "min_roc_auc": 0.75,
                    "cooldown_hours": 1.5},
         "roc_auc": {"value": 0.7123, "source": "roc_auc", "window": day_1},
         "drifting": [
             {"table": MONITOR.table, "column": "sessions_30d", "metric": "js_distance",
              "value": 0.1235, "threshold": 0.1, "level": "WARN", "window": day_1,
              "slices": ["plan_tier=p0", "plan_tier=p1", "plan_tier=p2"], "more_slices": 2},
             {"table": MONITOR.table, "column": "t" * (MAX_NAME - 3) + "...",
              "metric": "js_distance", "value": 0.5, "threshold": 0.2, "level": "ERROR",
              "window": day_1, "slices": []}]})
    assert found.launch


def test_an_error_policy_counts_error_columns_only_and_ignores_warn_slices(
        catalog: Catalog) -> None:
    _two_drifting_windows(catalog)
    found = decision(catalog, RetrainingPolicy(MODEL.name))
    assert found.episode == f"{MODEL.name}@{_stamp(1)}"  # day 0 had WARN columns only
    assert found.evidence["roc_auc"] is None
    assert [(d["column"], d["level"]) for d in found.evidence["drifting"]] == [
        ("t" * (MAX_NAME - 3) + "...", "ERROR")]


def test_the_reason_names_three_columns_and_counts_the_others(catalog: Catalog) -> None:
    drifts(catalog, 0, a=0.9, b=0.25, c=0.2, d=0.5)
    assert decision(catalog, RetrainingPolicy(MODEL.name, min_columns=4)).reason == (
        f"window {_stamp(0)}: 4 input column(s) at ERROR drift (needs 4): a js_distance=0.9, "
        "b js_distance=0.25, c js_distance=0.2 +1")
    drifts(catalog, 1, a=0.9, b=0.25, c=0.2)
    assert decision(catalog, RetrainingPolicy(MODEL.name, min_columns=4)).reason == (
        f"no breach, window {_stamp(1)}: 3 input column(s) at ERROR drift (needs 4): "
        "a js_distance=0.9, b js_distance=0.25, c js_distance=0.2")


def test_exactly_max_slices_flagged_slices_are_shown_and_none_counted(
        catalog: Catalog) -> None:
    catalog.create_table(MONITOR.table, pl.Schema({"plan_tier": pl.String}),
                         TableInfo(owner="team:ml"))
    _append(catalog, MONITOR.drift_metrics_table, DRIFT_METRICS, drift_frame(
        drift_row("sessions_30d", js_distance=0.9),
        *(drift_row("sessions_30d", js_distance=0.9, slice_key="plan_tier", slice_value=value)
          for value in ("a", "b", "c"))))
    (column,) = decision(catalog, RetrainingPolicy(MODEL.name)).evidence["drifting"]
    assert column["slices"] == ["plan_tier=a", "plan_tier=b", "plan_tier=c"]
    assert "more_slices" not in column


def test_a_policy_with_a_bound_and_no_roc_auc_says_so(catalog: Catalog) -> None:
    drifts(catalog, 0, sessions_30d=0.05)
    assert decision(catalog, RetrainingPolicy(MODEL.name, min_roc_auc=0.7)) == Decision(
        "no_breach", f"no breach, window {_stamp(0)}: 0 input column(s) at ERROR drift "
                     "(needs 1); no ROC AUC")


def test_without_metric_tables_or_rows_the_reason_says_what_is_missing(
        catalog: Catalog) -> None:
    policy = RetrainingPolicy(MODEL.name)
    second = replace(MONITOR, table="churn.inference_log_eu")
    assert decide(catalog, policy, MODEL, [], last_launch=None, launched=lambda _: True,
                  now=NOW) == Decision("no_metrics",
                                       f"{MODEL.name}: no monitor watches its inference log")
    assert decide(catalog, policy, MODEL, [MONITOR, second], last_launch=None,
                  launched=lambda _: True, now=NOW) == Decision(
        "no_metrics", f"{MODEL.name}: no metric tables yet for the monitors of "
                      f"{MONITOR.table}, churn.inference_log_eu")
    _append(catalog, MONITOR.profile_metrics_table, PROFILE_METRICS, pl.DataFrame(
        [{"window": window(_day(0)), "granularity": "1 day", "column_name": TABLE_LEVEL}],
        schema=PROFILE_METRICS))  # a window without any ROC AUC
    assert decision(catalog, policy) == Decision(
        "no_baseline", f"{MODEL.name}: the metric tables of {MONITOR.table} have no BASELINE "
                       "drift rows and no ROC AUC yet (no champion yet, whose training set is "
                       "the baseline?)")


def test_a_reason_longer_than_max_reason_characters_is_cut_ending_in_dots(
        catalog: Catalog) -> None:
    drifts(catalog, 0, **{c * 30: 0.9 for c in "abcde"})
    scores(catalog, 0, {"estimated_roc_auc": 0.5})
    policy = RetrainingPolicy(MODEL.name, min_roc_auc=0.65, cooldown=timedelta(hours=6))
    last = NOW - timedelta(hours=1)
    named = ", ".join(f"{c * 30} js_distance=0.9" for c in "abc")
    summary = (f"window {_stamp(0)}: 5 input column(s) at ERROR drift (needs 1): {named} +2; "
               "estimated_roc_auc 0.500 (bound 0.65)")
    full = f"in cooldown until 2026-04-09T05:00:00Z (last launch 2026-04-08T23:00:00Z); {summary}"
    assert len(summary) == MAX_REASON < len(full)  # a reason of exactly MAX_REASON is kept
    launch = decision(catalog, policy)
    assert launch.reason == summary
    cooldown = decision(catalog, policy, last_launch=last)
    assert cooldown == Decision("cooldown", full[:MAX_REASON - 3] + "...", launch.episode,
                                launch.evidence)
    again = decision(catalog, policy, launched=launch.episode)
    assert again == Decision(
        "episode_launched", f"episode {launch.episode} already launched a run; {summary}"[
            :MAX_REASON - 3] + "...", launch.episode, launch.evidence)


# evidence_json: what fits

def _evidence(padding: int, columns: int) -> dict:
    """Columns as long as a real one's name (longer than a `more_columns` count)."""
    return {"model": "m" * padding, "drifting": [{"c": f"{i}" * 40} for i in range(columns)]}


def test_evidence_json_keeps_every_column_when_all_fit_to_exactly_max_evidence() -> None:
    whole = len(json.dumps(_evidence(0, 3), separators=(",", ":")))
    exact = _evidence(MAX_EVIDENCE - whole, 3)
    text = Decision("launch", "r", "e", exact).evidence_json()
    assert len(text) == MAX_EVIDENCE and json.loads(text) == exact
    over = _evidence(MAX_EVIDENCE - whole + 1, 3)
    assert json.loads(Decision("launch", "r", "e", over).evidence_json()) == {
        **over, "drifting": over["drifting"][:2], "more_columns": 1}


def test_evidence_json_keeps_one_column_that_fits_to_exactly_max_evidence() -> None:
    """The first column alone fits, to the last character; a second would not: the text
    keeps that one column and counts the other two (not none, and not cut at MAX - 1)."""
    def cut(evidence: dict, count: int) -> dict:
        return {**evidence, "drifting": evidence["drifting"][:count], "more_columns": 3 - count}

    base = len(json.dumps(cut(_evidence(0, 3), 1), separators=(",", ":")))
    evidence = _evidence(MAX_EVIDENCE - base, 3)
    text = Decision("launch", "r", "e", evidence).evidence_json()
    assert len(text) == MAX_EVIDENCE and json.loads(text) == cut(evidence, 1)


def test_evidence_json_without_room_for_any_column_drops_them_and_counts_them() -> None:
    huge = _evidence(MAX_EVIDENCE, 2)
    assert Decision("launch", "r", "e", huge).evidence_json() == json.dumps(
        {"model": "m" * MAX_EVIDENCE, "drifting": [], "more_columns": 2}, separators=(",", ":"))


def test_evidence_json_keeps_short_columns_whole_when_they_fit_whole() -> None:
    """Columns shorter than a `more_columns` count: every one fits, though the list cut
    before the last one and counted would not (it was cut to none and said nothing)."""
    short = {"model": "", "drifting": [{}, {}]}
    whole = len(json.dumps(short, separators=(",", ":")))
    fits = {**short, "model": "m" * (MAX_EVIDENCE - whole)}
    text = Decision("launch", "r", "e", fits).evidence_json()
    assert len(text) == MAX_EVIDENCE and json.loads(text) == fits
    assert Decision("launch", "r", "e", {"model": "m"}).evidence_json() == (
        '{"model":"m","drifting":[]}')
