"""Run the daily_refresh job over a range of days as one Dagster run, and summarise it."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from rich.console import Console
from rich.table import Table

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.ingest.layout import landed_batches

QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
DOWNSTREAM_JOBS = ("train_validate_deploy", "batch_score")


def landed_range(landing: str, sources: list[str]) -> tuple[str, str]:
    days = sorted({d for s in sources for d in landed_batches(landing, s)})
    if not days:
        raise SystemExit(f"no landed files under {landing}: run `lakehouse-ml generate` first")
    return days[0], days[-1]


def _instance() -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs then show in the UI)."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else (
        dg.DagsterInstance.ephemeral()
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Runs of a local (SQLite) instance that a killed process left STARTED hold their pool
    slots (e.g. `ingest_<source>`) for ever, so every later run would wait: mark each failed
    and free its slots. Returns their run ids. Runs whose process is alive are left alone."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or not isinstance(
        instance.run_storage, SqliteRunStorage
    ):
        return []
    released = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.status != dg.DagsterRunStatus.STARTED:
            continue
        pids = {e.dagster_event.pid for e in instance.all_logs(run_id)
                if e.dagster_event and e.dagster_event.pid}
        if pids and not any(_alive(pid) for pid in pids):
            instance.report_run_failed(run, "its process was killed; its pool slots are freed")
            storage.free_concurrency_slots_for_run(run_id)
            released.append(run_id)
    return released


def day_option(option: str, value: str | None) -> str | None:
    """`value` as an ISO day (`YYYY-MM-DD`), None kept; ValueError naming `option` otherwise."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{option} {value!r} is not a day (YYYY-MM-DD)") from None


def materialize_range(start: str | None, end: str | None) -> list[dg.ExecuteInProcessResult]:
    """`daily_refresh` over the landed days as one run, then the downstream unpartitioned jobs.

    Stops at the first failed run. ValueError (a usage error) for a day that is not
    `YYYY-MM-DD` or a `start` after `end`, before anything runs.
    """
    start, end = day_option("--start", start), day_option("--end", end)
    if start and end and start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    from lakehouse_ml.definitions import defs
    from lakehouse_ml.domains.churn import DOMAIN

    settings = Settings.from_env()
    first, last = landed_range(settings.landing, [s.name for s in DOMAIN.sources])
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    start, end = start or first, min(end or last, yesterday)
    definitions, instance = defs(), _instance()
    release_dead_runs(instance)
    results = [definitions.resolve_job_def("daily_refresh").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end},
    )]
    for job in DOWNSTREAM_JOBS:
        if not results[-1].success:
            break
        results.append(definitions.resolve_job_def(job).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False))
    return results


def summary(console: Console, results: list[dg.ExecuteInProcessResult]) -> None:
    catalog = Catalog.from_settings()
    tables = Table("table", "rows", "delta version", title="Tables")
    for entry in catalog.tables():
        rows = catalog.scan(entry.name).select(pl.len()).collect().item()
        tables.add_row(entry.name, f"{rows:,}", str(catalog.version(entry.name)))
    console.print(tables)
    checks = Table("asset", "check", "result", title="Asset checks")
    latest = {(e.asset_key, e.check_name): e for r in results
              for e in r.get_asset_check_evaluations()}
    for evaluation in latest.values():
        outcome = "[green]passed" if evaluation.passed else (
            "[yellow]warn" if evaluation.severity == dg.AssetCheckSeverity.WARN else "[red]failed"
        )
        checks.add_row(evaluation.asset_key.to_user_string(), evaluation.check_name, outcome)
    console.print(checks)
    for result in results:
        for event in result.all_node_events:
            if event.is_step_materialization and event.step_key.endswith("deploy_model"):
                meta = event.step_materialization_data.materialization.metadata
                console.print(
                    f"model {meta['registered_model'].value} version {meta['version'].value}: "
                    f"{meta['alias'].value} (validation {meta['validation'].value}, holdout "
                    f"ROC AUC {meta['roc_auc'].value:.3f}); MLflow UI: make mlflow-ui"
                )
    for result in results:
        state = "[green]succeeded" if result.success else "[red]failed"
        console.print(f"run {result.run_id} ({result.job_def.name}) {state}")
