"""A model's drift sensor on hand-made metric tables (real Delta tables, a real Dagster
instance and sensor context): it launches the train-validate-deploy job on ERROR drift of a
model input (measured on its inference log, the predictions with the features scored) or a
low ROC AUC, not on noise, once per drift episode, and not within its
cooldown; the reason and evidence it tags the run with are short and never show a value of a
pii column."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.definitions import defs
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.domain import domain_definitions
from lakehouse_ml.defs.factories.sensors import drift_sensor
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.domains import declared_monitors
from lakehouse_ml.domains.churn import DOMAIN, MODELS
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.monitoring.schema import DRIFT_METRICS, PROFILE_METRICS, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import (
    ChampionTrainingSet,
    DriftThreshold,
    InferenceLog,
    Monitor,
    RetrainingPolicy,
)
from lakehouse_ml.monitoring.triggers import MASKED, MAX_EVIDENCE, MAX_REASON

DAY = timedelta(days=1)
FIRST = datetime(2026, 3, 1, tzinfo=UTC)
ENGAGEMENT, PROFILE, ACTIVITY = ("gold.customer_engagement", "gold.customer_profile",
                                 "gold.daily_activity")
BASE = ChampionTrainingSet(MODEL.name)
MONITORS = (
    Monitor(ENGAGEMENT, "time_series", timestamp_col="feature_ts", baseline=BASE),
    Monitor(PROFILE, "time_series", timestamp_col="feature_ts", baseline=BASE),
    Monitor(ACTIVITY, "time_series", timestamp_col="activity_date", baseline=BASE),
    Monitor(MODEL.predictions_table, "inference_log", timestamp_col="as_of", baseline=BASE,
            exclude=("customer_id", "scored_at"),
            inference_log=InferenceLog(model_id_col="model_version", prediction_col="prediction",
                                       probability_col="probability", model=MODEL.name)),
)
ENGAGED = MONITORS[0]
INFERENCE = MONITORS[3]
SCORES = MODEL.predictions_table
POLICY = RetrainingPolicy(MODEL.name, min_roc_auc=0.65)
JOB = names.train_validate_deploy(MODEL.name)
QUIET = {"sessions_30d": 0.02, "events_7d": 0.03, "customer_id": 0.0}


def _start(day: int) -> datetime:
    return FIRST + day * DAY


def _key(day: int) -> str:
    return f"{MODEL.name}@{_start(day).isoformat().replace('+00:00', 'Z')}"


def _rows(schema: pl.Schema, day: int, rows: list[dict]) -> pl.DataFrame:
    window = {"start": _start(day), "end": _start(day + 1)}
    return pl.DataFrame([{"window": window, "granularity": "1 day", **r} for r in rows],
                        schema=schema)


def _table(catalog: Catalog, table: str, schema: pl.Schema) -> None:
    catalog.create_table(table, schema, TableInfo(owner="team:ml"))


def drift_window(catalog: Catalog, monitor: Monitor, day: int, js: Mapping[str, float],
                 slices: Mapping[tuple[str, str, str], float] = {}) -> None:
    """BASELINE drift rows of one window: whole-table rows (column → JS distance) and slice
    rows ((slice key, slice value, column) → JS distance), besides a `:table` row."""
    rows = [{"column_name": TABLE_LEVEL, "drift_type": "BASELINE", "count_delta": 5.0}]
    rows += [{"column_name": c, "drift_type": "BASELINE", "data_type": "Float64",
              "js_distance": v} for c, v in js.items()]
    rows += [{"slice_key": k, "slice_value": s, "column_name": c, "drift_type": "BASELINE",
              "data_type": "Float64", "js_distance": v} for (k, s, c), v in slices.items()]
    rows += [{"column_name": c, "drift_type": "CONSECUTIVE", "data_type": "Float64",
              "js_distance": 0.9} for c in js]  # consecutive drift never launches
    _table(catalog, monitor.drift_metrics_table, DRIFT_METRICS)
    catalog.append(monitor.drift_metrics_table, _rows(DRIFT_METRICS, day, rows))


def quality_window(catalog: Catalog, day: int, roc_auc: float | None,
                   estimated: float | None, monitor: Monitor = INFERENCE) -> None:
    _table(catalog, monitor.profile_metrics_table, PROFILE_METRICS)
    catalog.append(monitor.profile_metrics_table, _rows(PROFILE_METRICS, day, [
        {"column_name": TABLE_LEVEL, "roc_auc": roc_auc, "estimated_roc_auc": estimated,
         "count": 100},
        {"column_name": TABLE_LEVEL, "slice_key": "plan_tier", "slice_value": "basic",
         "roc_auc": 0.1, "estimated_roc_auc": 0.1},  # a slice's AUC is not the model's
    ]))


@pytest.fixture
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


@pytest.fixture(scope="module")
def job() -> dg.JobDefinition:
    """The model's real train-validate-deploy job (what the sensor's requests launch)."""
    resources = {"lakehouse": LakehouseResource(root="unused", env="dev", landing="unused"),
                 "mlflow": MlflowResource(tracking_uri="sqlite:///unused.db")}
    return dg.Definitions.merge(domain_definitions(DOMAIN, MODELS), dg.Definitions(
        resources=resources)).resolve_job_def(JOB)


class Sensor:
    """A drift sensor evaluated as the daemon does, launching the runs it requests."""

    def __init__(self, settings: Settings, instance: dg.DagsterInstance, job: dg.JobDefinition,
                 policy: RetrainingPolicy = POLICY, monitors: tuple[Monitor, ...] = MONITORS,
                 definition: dg.SensorDefinition | None = None):
        self.definition = definition or drift_sensor(MODEL, policy, monitors)
        self.settings, self.instance, self.job = settings, instance, job

    def tick(self) -> dg.RunRequest | str:
        """The RunRequest (its run created in the instance), or the skip message."""
        resources = {"lakehouse": LakehouseResource.from_settings(self.settings)}
        with dg.build_sensor_context(instance=self.instance, resources=resources) as context:
            result = self.definition.evaluate_tick(context)
        if not result.run_requests:
            assert result.skip_message
            return result.skip_message
        (request,) = result.run_requests
        self.instance.create_run_for_job(self.job, tags=request.tags)
        return request


def _launched(outcome: dg.RunRequest | str) -> dg.RunRequest:
    assert isinstance(outcome, dg.RunRequest), outcome
    return outcome


def test_error_drift_on_a_model_input_launches_retraining_with_reason_and_evidence(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    sensor = Sensor(settings, instance, job)
    drift_window(catalog, INFERENCE, 0, QUIET)
    drift_window(catalog, INFERENCE, 1, {**QUIET, "sessions_30d": 0.35}, slices={
        ("plan_tier", "pro", "sessions_30d"): 0.5, ("plan_tier", "pro", "events_7d"): 0.5})

    request = _launched(sensor.tick())

    assert sensor.definition.job_name == JOB
    assert request.run_key == _key(1)
    tags = request.tags
    assert tags[names.TRIGGER_TAG] == names.drift_sensor(MODEL.name)
    assert tags[names.EPISODE_TAG] == _key(1)
    assert "sessions_30d" in tags[names.REASON_TAG] and "ERROR" in tags[names.REASON_TAG]
    evidence = json.loads(tags[names.EVIDENCE_TAG])
    (column,) = evidence["drifting"]  # events_7d drifts in a slice only: evidence of nothing
    assert column["table"] == SCORES and column["column"] == "sessions_30d"
    assert (column["metric"], column["value"], column["threshold"], column["level"]) == (
        "js_distance", 0.35, 0.2, "ERROR")
    assert column["window"] == ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"]
    assert column["slices"] == [f"plan_tier={MASKED}"]  # the table is not registered: masked
    assert evidence["episode_start"] == "2026-03-02T00:00:00Z"
    assert evidence["roc_auc"] is None


def test_the_code_locations_drift_sensor_retrains_churn_clf_on_two_drifting_inputs(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    definition = defs().resolve_sensor_def(names.drift_sensor(MODEL.name))
    assert definition.default_status == dg.DefaultSensorStatus.RUNNING
    assert definition.job_name == JOB
    # the run it launches promotes a champion only through the validation gates
    assert {f"{MODEL.name}_validate_model", f"{MODEL.name}_deploy_model"} <= {
        node.name for node in job.all_node_defs}
    monitors = {m.table: m for m in declared_monitors("churn")}
    engagement, scores = monitors[ENGAGEMENT], monitors[SCORES]
    sensor = Sensor(settings, instance, job, definition=definition)
    drift_window(catalog, engagement, 0, {"sessions_30d": 0.9, "events_7d": 0.9})
    drift_window(catalog, scores, 0, {**QUIET, "sessions_30d": 0.4,
                                      "days_since_last_login": 0.12})
    assert sensor.tick().startswith(  # churn's policy: ERROR drift of two inputs (the
        # feature table's drift is not the model inputs')
        "no breach, window 2026-03-01T00:00:00Z: 1 input column(s) at ERROR drift (needs 2)")
    drift_window(catalog, scores, 1, {**QUIET, "sessions_30d": 0.4,
                                      "days_since_last_login": 0.45})

    request = _launched(sensor.tick())

    assert request.run_key == _key(1)
    drifting = json.loads(request.tags[names.EVIDENCE_TAG])["drifting"]
    assert {(d["table"], d["column"]) for d in drifting} == {
        (SCORES, "sessions_30d"), (SCORES, "days_since_last_login")}
    assert sensor.tick().startswith(f"episode {_key(1)} already launched")


def test_the_code_locations_drift_sensor_retrains_churn_clf_below_its_roc_auc_gate(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    definition = defs().resolve_sensor_def(names.drift_sensor(MODEL.name))
    (predictions,) = [m for m in declared_monitors("churn")
                      if m.table == MODEL.predictions_table]
    sensor = Sensor(settings, instance, job, definition=definition)
    quality_window(catalog, 0, roc_auc=None, estimated=0.72, monitor=predictions)
    assert sensor.tick().startswith("no breach")
    quality_window(catalog, 1, roc_auc=None, estimated=0.66, monitor=predictions)

    request = _launched(sensor.tick())

    assert request.run_key == _key(1)
    assert "estimated_roc_auc 0.660 (bound 0.7)" in request.tags[names.REASON_TAG]


@pytest.mark.parametrize(("policy", "js", "slices"), [
    (POLICY, {"sessions_30d": 0.15}, {}),  # WARN where the policy launches on ERROR
    (POLICY, {"customer_id": 0.9}, {}),  # the lookup key is not a model input
    (POLICY, {"probability": 0.9, "prediction": 0.9}, {}),  # nor are its outputs
    (POLICY, {}, {("plan_tier", "pro", "sessions_30d"): 0.9}),  # a slice only
    (replace(POLICY, on_drift_level="WARN", min_columns=2), {"sessions_30d": 0.15}, {}),
    (replace(POLICY, on_drift_level=None), {"sessions_30d": 0.9}, {}),  # quality only
], ids=["warn-under-error-policy", "lookup-key", "model-outputs", "slice-only",
        "one-of-two-columns", "drift-not-watched"])
def test_noise_does_not_launch(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition, policy: RetrainingPolicy, js: dict[str, float], slices: dict
) -> None:
    drift_window(catalog, INFERENCE, 0, {**QUIET, **js}, slices)

    outcome = Sensor(settings, instance, job, policy).tick()

    assert isinstance(outcome, str) and outcome.startswith("no breach, window 2026-03-01")


def test_drift_of_feature_tables_is_not_drift_of_the_model_inputs(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    drift_window(catalog, MONITORS[2], 0, {"sessions": 0.9, "revenue": 0.9})
    drift_window(catalog, ENGAGED, 0, {"sessions_30d": 0.9, "events_7d": 0.9})
    assert "no metric tables yet" in Sensor(settings, instance, job).tick()
    drift_window(catalog, INFERENCE, 0, QUIET)
    assert Sensor(settings, instance, job).tick().startswith("no breach")


def test_warn_drift_on_enough_columns_launches_under_a_warn_policy(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    policy = replace(POLICY, on_drift_level="WARN", min_columns=2)
    drift_window(catalog, INFERENCE, 0, {**QUIET, "sessions_30d": 0.15, "tenure_days": 0.12})

    request = _launched(Sensor(settings, instance, job, policy).tick())

    drifting = json.loads(request.tags[names.EVIDENCE_TAG])["drifting"]
    assert {(d["table"], d["column"], d["level"]) for d in drifting} == {
        (SCORES, "sessions_30d", "WARN"), (SCORES, "tenure_days", "WARN")}


def test_one_drift_episode_launches_one_run_and_the_cooldown_holds_the_next(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    sensor = Sensor(settings, instance, job)
    drift_window(catalog, INFERENCE, 0, QUIET)
    drift_window(catalog, INFERENCE, 1, {**QUIET, "sessions_30d": 0.4})
    assert _launched(sensor.tick()).run_key == _key(1)

    assert sensor.tick().startswith(f"episode {_key(1)} already launched a run")
    drift_window(catalog, INFERENCE, 2, {**QUIET, "sessions_30d": 0.5})  # the same episode
    assert sensor.tick().startswith(f"episode {_key(1)} already launched a run")
    drift_window(catalog, INFERENCE, 3, QUIET)  # it ends
    assert sensor.tick().startswith("no breach, window 2026-03-04")
    drift_window(catalog, INFERENCE, 4, {**QUIET, "events_7d": 0.3})  # a new one

    held = sensor.tick()

    assert isinstance(held, str) and held.startswith("in cooldown until")
    runs = instance.get_runs(dg.RunsFilter(job_name=JOB))
    assert [r.tags[names.EPISODE_TAG] for r in runs] == [_key(1)]
    # past the cooldown (here: none) the new episode launches its own run, once
    no_cooldown = Sensor(settings, instance, job, replace(POLICY, cooldown=timedelta(0)))
    assert _launched(no_cooldown.tick()).run_key == _key(4)
    assert no_cooldown.tick().startswith(f"episode {_key(4)} already launched")


def test_a_low_roc_auc_launches_realized_before_estimated(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    sensor = Sensor(settings, instance, job, replace(POLICY, cooldown=timedelta(0)))
    quality_window(catalog, 0, roc_auc=None, estimated=0.8)
    assert sensor.tick().startswith("no breach")
    quality_window(catalog, 1, roc_auc=0.8, estimated=0.5)  # labels arrived: realized counts
    assert sensor.tick().startswith("no breach")
    quality_window(catalog, 2, roc_auc=None, estimated=0.55)

    request = _launched(sensor.tick())

    assert request.run_key == _key(2)
    assert "estimated_roc_auc 0.550" in request.tags[names.REASON_TAG]
    evidence = json.loads(request.tags[names.EVIDENCE_TAG])
    assert evidence["roc_auc"]["value"] == 0.55
    assert evidence["roc_auc"]["source"] == "estimated_roc_auc"
    quality_window(catalog, 3, roc_auc=0.6, estimated=0.9)  # realized, still below: same run
    assert sensor.tick().startswith(f"episode {_key(2)} already launched")


def test_a_monitor_that_refreshes_less_often_still_counts(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    drift_window(catalog, INFERENCE, 0, {**QUIET, "sessions_30d": 0.4})
    quality_window(catalog, 1, roc_auc=None, estimated=0.9)  # a later window, no drift table

    request = _launched(Sensor(settings, instance, job).tick())

    assert request.run_key == _key(0)
    assert json.loads(request.tags[names.EVIDENCE_TAG])["window_start"] == (
        "2026-03-02T00:00:00Z")


def test_slice_values_of_pii_columns_are_never_shown(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    catalog.create_table(SCORES, pl.Schema({"country": pl.String, "plan_tier": pl.String}),
                         TableInfo(owner="team:ml", column_tags={"country": ["pii"]}))
    drift_window(catalog, INFERENCE, 0, {"tenure_days": 0.5}, slices={
        ("country", "DE", "tenure_days"): 0.5, ("plan_tier", "pro", "tenure_days"): 0.5,
        ("upper(country) = 'FR'", "true", "tenure_days"): 0.5})

    request = _launched(Sensor(settings, instance, job).tick())

    (column,) = json.loads(request.tags[names.EVIDENCE_TAG])["drifting"]
    assert sorted(column["slices"]) == sorted([
        f"country={MASKED}", "plan_tier=pro", f"upper(country) = 'FR'={MASKED}"])
    assert "DE" not in request.tags[names.EVIDENCE_TAG]


def test_reason_and_evidence_stay_short_however_much_drifts(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    inputs = [f"{m}_{w}d" for m in ("events", "sessions", "page_views", "purchases", "revenue")
              for w in (7, 30, 90)]
    drift_window(catalog, INFERENCE, 0, dict.fromkeys(inputs, 0.9), slices={
        ("plan_tier", f"tier-{i}-" + "x" * 200, c): 0.9 for c in inputs for i in range(5)})

    request = _launched(Sensor(settings, instance, job).tick())

    assert len(request.tags[names.REASON_TAG]) <= MAX_REASON
    assert "15 input column(s) at ERROR" in request.tags[names.REASON_TAG]
    evidence = json.loads(request.tags[names.EVIDENCE_TAG])
    assert len(request.tags[names.EVIDENCE_TAG]) <= MAX_EVIDENCE
    assert len(evidence["drifting"]) + evidence["more_columns"] == 15
    assert all(len(c["slices"]) == 3 and c["more_slices"] == 2 for c in evidence["drifting"])


def test_metric_tables_that_cannot_be_judged_skip_with_the_reason(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    broken = replace(INFERENCE, thresholds={"sessions_30d": DriftThreshold("nope", 0.1, 0.2)})
    drift_window(catalog, broken, 0, {"sessions_30d": 0.9})

    outcome = Sensor(settings, instance, job, monitors=(broken,)).tick()

    assert isinstance(outcome, str) and outcome.startswith(
        f"cannot read the metric tables of {MODEL.name}: ValueError") and "'nope'" in outcome


def test_no_metric_tables_yet(
    settings: Settings, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    outcome = Sensor(settings, instance, job).tick()
    assert outcome == f"{MODEL.name}: no metric tables yet for the monitors of {SCORES}"
    unwatched = Sensor(settings, instance, job, monitors=(ENGAGED, MONITORS[2])).tick()
    assert unwatched == f"{MODEL.name}: no monitor watches its inference log"


def test_metric_tables_without_baseline_rows_say_so(
    settings: Settings, catalog: Catalog, instance: dg.DagsterInstance,
    job: dg.JobDefinition
) -> None:
    _table(catalog, INFERENCE.drift_metrics_table, DRIFT_METRICS)  # no champion: CONSECUTIVE
    catalog.append(INFERENCE.drift_metrics_table, _rows(DRIFT_METRICS, 0, [
        {"column_name": "sessions_30d", "drift_type": "CONSECUTIVE", "data_type": "Float64",
         "js_distance": 0.9}]))

    outcome = Sensor(settings, instance, job).tick()

    assert outcome == (f"{MODEL.name}: the metric tables of {SCORES} have no BASELINE drift "
                       "rows and no ROC AUC yet (no champion yet, whose training set is the "
                       "baseline?)")
