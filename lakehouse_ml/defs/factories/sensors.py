"""Automation that closes a model's loop: `<model>_drift_sensor` launches
`<model>_train_validate_deploy` when the model's `RetrainingPolicy` says so (the engine decides:
`monitoring.triggers`), `<model>_batch_score_schedule` scores daily, and `failed_runs_sensor`
records every failed run of the code location in `monitoring.failed_runs`."""

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.monitoring.failed_runs import TABLE, record_failed_run
from lakehouse_ml.monitoring.spec import Monitor, RetrainingPolicy

DRIFT_INTERVAL_SECONDS = 120
"""How often a drift sensor reads the metric tables (a daily refresh writes them)."""
BATCH_SCORE_CRON = "0 4 * * *"
"""04:00 UTC: after the 02:00 daily refresh has written yesterday's feature snapshots."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def drift_sensor(model: ModelSpec, policy: RetrainingPolicy,
                 monitors: Sequence[Monitor]) -> dg.SensorDefinition:
    """`<model>_drift_sensor` (running by default): a RunRequest of
    `<model>_train_validate_deploy` with the drift episode as run key and the trigger,
    episode, reason and evidence tags (`names.*_TAG`), or a SkipReason saying why not (no
    metric tables yet, no breach, episode already launched, in cooldown, metric tables that
    cannot be read). The run promotes a champion only through the validation gates."""
    job = names.train_validate_deploy(model.name)
    name = names.drift_sensor(model.name)

    @dg.sensor(
        name=name, job_name=job, default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=DRIFT_INTERVAL_SECONDS,
        description=f"Launches {job} on drift of {model.name}'s inputs or a low ROC AUC "
        f"(on_drift_level={policy.on_drift_level}, min_columns={policy.min_columns}, "
        f"min_roc_auc={policy.min_roc_auc}, cooldown={policy.cooldown}); one run per drift "
        "episode (its run key).",
    )
    def _drift(context: dg.SensorEvaluationContext,
               lakehouse: LakehouseResource) -> dg.RunRequest | dg.SkipReason:
        # imported when it runs (it reads the model's scores: MLflow, scikit-learn), not when
        # the definitions load
        from lakehouse_ml.monitoring.triggers import decide

        instance = context.instance

        def launched(episode: str) -> bool:
            return bool(instance.get_run_records(dg.RunsFilter(
                job_name=job, tags={names.EPISODE_TAG: episode}), limit=1))

        last = instance.get_run_records(dg.RunsFilter(
            job_name=job, tags={names.TRIGGER_TAG: name}), limit=1)
        try:
            decision = decide(
                lakehouse.catalog(), policy, model, monitors,
                last_launch=_aware(last[0].create_timestamp) if last else None,
                launched=launched, now=datetime.now(UTC))
        except (ValueError, pl.exceptions.PolarsError) as error:  # fail closed: no launch
            return dg.SkipReason(f"cannot read the metric tables of {model.name}: "
                                 f"{type(error).__name__}: {str(error)[:300]}")
        if not decision.launch:
            return dg.SkipReason(decision.reason)
        assert decision.episode is not None
        return dg.RunRequest(run_key=decision.episode, tags={
            names.TRIGGER_TAG: name, names.EPISODE_TAG: decision.episode,
            names.REASON_TAG: decision.reason, names.EVIDENCE_TAG: decision.evidence_json(),
        })

    return _drift


def batch_score_schedule(model: ModelSpec) -> dg.ScheduleDefinition:
    """`<model>_batch_score_schedule`: `<model>_batch_score` daily at 04:00 UTC (stopped by
    default, like every schedule)."""
    job = names.batch_score(model.name)
    return dg.ScheduleDefinition(
        name=names.schedule(job), job_name=job, cron_schedule=BATCH_SCORE_CRON,
        execution_timezone="UTC",
        description="04:00 UTC: score the eligible keys with the champion, after the daily "
        "refresh.")


def model_automation(model: ModelSpec, policy: RetrainingPolicy | None,
                     monitors: Sequence[Monitor]) -> dg.Definitions:
    """The model's drift sensor (when it has a retraining policy) and batch-score schedule
    (when it declares batch scoring)."""
    return dg.Definitions(
        sensors=[drift_sensor(model, policy, monitors)] if policy else [],
        schedules=[batch_score_schedule(model)] if model.batch_scoring else [],
    )


def failed_runs_sensor() -> dg.SensorDefinition:
    """`failed_runs_sensor` (running by default): records each failed run of the code location
    (run id, job, end time, error cut and cleared of credentials, tags) in
    `monitoring.failed_runs`. Define it once per code location."""

    @dg.run_failure_sensor(
        name=names.FAILED_RUNS_SENSOR, default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Records every failed run of this code location in {TABLE} (run id, "
        "job, time, error cut and cleared of credentials, tags).")
    def _failed(context: dg.RunFailureSensorContext, lakehouse: LakehouseResource) -> None:
        run = context.dagster_run
        errors = [context.failure_event.message or ""]
        for event in context.get_step_failure_events()[:1]:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:  # the op's own exception
                error = error.cause
            errors.append(error.message if error is not None else "")
        record = context.instance.get_run_record_by_id(run.run_id)
        ended = record.end_time if record and record.end_time else datetime.now(UTC).timestamp()
        record_failed_run(lakehouse.catalog(), run.run_id, run.job_name,
                          datetime.fromtimestamp(ended, UTC),
                          "\n".join(e.strip() for e in errors if e), run.tags)

    return _failed
