"""`lakehouse-ml run`: each domain's daily refresh over its landed days as one Dagster run,
then its models' jobs; and the summary printed after it."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
from dagster._core.storage.runs import SqliteRunStorage
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_shared.error import SerializableErrorInfo
from rich.console import Console
from rich.table import Table

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli.domains import model_domain, resolve_domain, resolve_model
from lakehouse_ml.cli.errors import one_line
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.medallion import future_folders, landed_days
from lakehouse_ml.defs.factories.model import train_run_config
from lakehouse_ml.defs.governance_audit import JOB as GOVERNANCE_JOB
from lakehouse_ml.defs.lineage_events import emit_ended_run
from lakehouse_ml.domains import Declared, discover
from lakehouse_ml.ingest.layout import last_day, undeclared_folders
from lakehouse_ml.medallion.spec import Domain
from lakehouse_ml.ml.run_process import (
    HOST,
    gone_pid,
    kill_dead_runs,
    process_alive,
    process_tags,
)
from lakehouse_ml.ml.spec import ModelSpec

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Dagster's own console log (every event, failures with their traceback) only with --debug;
otherwise `run` prints one line per job and per failed step."""
VERBOSE = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
Say = Callable[[str], None]
SHIPPED_SETTINGS = Path(__file__).resolve().parents[2] / "dagster.yaml"
"""The project's Dagster instance settings (concurrency pools), beside the Makefile."""


@dataclass(frozen=True)
class DomainRange:
    """The days one domain's `<domain>_daily_refresh` runs over, as one run."""

    domain: Domain
    models: tuple[ModelSpec, ...]
    start: str
    end: str


def _span(start: str | None, end: str | None) -> str:
    return (f"between {start} and {end}" if start and end else f"from {start} on" if start
            else f"up to {end}")


def _domain_range(domain: Domain, models: tuple[ModelSpec, ...], landing: str,
                  start: str | None, end: str | None, say: Say) -> DomainRange | None:
    """The landed days of `domain` inside [start, end] (None: all of them), saying so when a
    bound moves to the first or last landed day; None when none of its days is inside."""
    for line in future_lines(landing, domain):
        say(line)
    days = landed_days(landing, domain)
    if not days:
        return None
    first, last = days[0], days[-1]
    low, high = start or first, end or last
    if not any(low <= day <= high for day in days):
        say(f"{domain.name}: nothing landed {_span(start, end)} (landed: {first} .. {last}); "
            "not run")
        return None
    if low < first:
        say(f"{domain.name}: nothing landed before {first}; starting there, not at {low}")
    if high > last:
        say(f"{domain.name}: nothing landed after {last}; ending there, not at {high}")
    return DomainRange(domain, models, max(low, first), min(high, last))


def _chosen(declared: dict[str, Declared], domain: str | None, model: str | None
            ) -> dict[str, tuple[ModelSpec, ...]]:
    """Domain name → the models `run` runs the jobs of: with `model`, only that model in the
    domain declaring it (which must be `domain` when given); else every model of `domain`, or
    of every healthy declared domain. ValueError (usage) naming the choices for an unknown
    domain or model, or a model `domain` does not declare (`cli.domains`)."""
    if model is not None:
        spec = resolve_model(model, domain)
        return {model_domain(spec.name, declared): (spec,)}
    names = [resolve_domain(domain).name] if domain is not None else list(declared)
    return {name: declared[name].models for name in names}


def plan(domain: str | None, start: str | None, end: str | None, landing: str, say: Say,
         model: str | None = None) -> list[DomainRange]:
    """What `run` runs: the named domain (or the domain declaring `model`, with only that
    model), or every declared domain with landed files, each over its landed days inside
    [start, end]. ValueError (usage) for a malformed day, a reversed range, an unknown domain
    or model; LookupError when nothing landed in the range. A broken domain package is left
    out (see `lakehouse_ml.domains.discover`)."""
    start, end = day_option("--start", start), day_option("--end", end)
    if start and end and start > end:
        raise ValueError(f"--start {start} is after --end {end}")
    declared = discover().declared
    chosen = _chosen(declared, domain, model)
    for line in undeclared_lines(landing, declared):
        say(line)
    ranges = [r for name, models in chosen.items() if (r := _domain_range(
        declared[name].domain, models, landing, start, end, say)) is not None]
    if not ranges:
        sources = "; ".join(f"{name}: {', '.join(s.name for s in declared[name].domain.sources)}"
                            for name in chosen)
        span = f" {_span(start, end)}" if start or end else ""
        which = ("any declared domain" if domain is None and model is None
                 else f"domain {', '.join(chosen)}")
        raise LookupError(f"no landed files{span} under {landing} for {which} ({sources}): "
                          "drop files under <landing>/<source>/<YYYY-MM-DD>/ or run "
                          "`lakehouse-ml generate`")
    return ranges


def _instance(say: Say) -> dg.DagsterInstance:
    """The persistent instance when DAGSTER_HOME is set (runs then show in the UI), with the
    project's `dagster.yaml` (its pools) copied there, saying so, when that home has none;
    else a temporary one, saying so."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        say("DAGSTER_HOME is not set: these runs use a temporary Dagster instance (not shown "
            "by `make ui`, pools not applied); `make run` sets it to data/dagster")
        return dg.DagsterInstance.ephemeral()
    settings = Path(home) / "dagster.yaml"
    if not settings.exists() and SHIPPED_SETTINGS.exists():
        settings.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHIPPED_SETTINGS, settings)
        say(f"{settings}: none there; copied the project's dagster.yaml (one step at a time "
            "per pool: ingest_<source>, train_<model>)")
    return dg.DagsterInstance.get()


def _dead_run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why `run`'s worker is gone, in the words of Dagster's run monitoring (`Detected run
    worker status ...`), or None when it may be alive or ran on another host:
    - a STARTED run: every process its events name (the run's, its steps') is gone from this
      host;
    - a NOT_STARTED run (its process was killed between creating and starting it, so no event
      names a process): the process its `process_tags` name is gone (`gone_pid`); a run
      without them (created by someone else) is left alone."""
    host = socket.gethostname()
    if run.tags.get(HOST, host) != host:
        return None
    if run.status == dg.DagsterRunStatus.NOT_STARTED:
        pid = gone_pid(run.tags)
        pids, when = ([] if pid is None else [pid]), " before the run started"
    else:
        pids = sorted({e.dagster_event.pid for e in instance.all_logs(run.run_id)
                       if e.dagster_event and e.dagster_event.pid})
        when = ""
        if any(process_alive(pid) for pid in pids):
            return None
    if not pids:
        return None
    named = ", ".join(map(str, pids))
    return (f"Detected run worker status NOT_FOUND: 'process {named} on {host} is gone "
            f"(killed){when}, seen by lakehouse-ml run'. Marking run {run.run_id} as failed.")


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    job_name: str
    left: str
    """The status it was left in: STARTED or NOT_STARTED."""


def release_dead_runs(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Runs of a local (SQLite) instance that a killed process (SIGKILL, the OOM killer) left
    STARTED or NOT_STARTED: no daemon's run monitoring watches a run executed in process, so
    they would show so for ever, and a STARTED one holds its pool slots (e.g.
    `ingest_<source>`), making every later run wait. Each is marked failed as Dagster's run
    monitoring does (`report_run_failed`, its message naming the gone process) and its slots
    are freed. Returns them by run id. A run whose process (or a step's) is alive, that names
    no process, or ran on another host is left alone (`_dead_run_worker`)."""
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    storage = instance.event_log_storage
    released = []
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED,
                                                         dg.DagsterRunStatus.NOT_STARTED])):
        why = _dead_run_worker(instance, run)
        if why is None:
            continue
        instance.report_run_failed(run, why)
        if storage.supports_global_concurrency_limits:
            storage.free_concurrency_slots_for_run(run.run_id)
        released.append(DeadRun(run.run_id, run.job_name, run.status.value))
    return sorted(released, key=lambda dead: dead.run_id)


def end_dead_runs(instance: dg.DagsterInstance, tracking_uri: str, say: Say) -> None:
    """At the start of `lakehouse-ml run`: the Dagster runs (`release_dead_runs`) and the
    MLflow runs (`ml.run_process.kill_dead_runs`, ended KILLED) a killed process left
    running, one line each. An MLflow store that cannot be reached is said in one line."""
    for dead in release_dead_runs(instance):
        say(f"dagster run {dead.run_id} ({dead.job_name}) was left {dead.left} by a process "
            "that is gone (killed): marked failed")
    if tracking_uri.startswith("sqlite:///") and not Path(
            tracking_uri.removeprefix("sqlite:///")).exists():
        return  # no store yet: no run in it
    try:
        from lakehouse_ml.ml.registry import use_tracking

        killed = kill_dead_runs(use_tracking(tracking_uri))
    except Exception as error:  # the store's trouble is the model steps' to report
        say(f"mlflow: runs left RUNNING by killed processes not looked for: {one_line(error)}")
        return
    for run in killed:
        say(f"mlflow run {run.run_id} ({run.name}) was left RUNNING by process {run.pid}, "
            "which is gone (killed): ended KILLED")


def day_option(option: str, value: str | None) -> str | None:
    """`value` as an ISO day (`YYYY-MM-DD`), None kept; ValueError naming `option` otherwise."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"{option} {value!r} is not a day (YYYY-MM-DD)") from None


def _error_message(error: SerializableErrorInfo) -> str:
    """`Class: message` on one line, the class without its module (a `dg.Failure`: only its
    description)."""
    head, _, rest = error.message.partition(": ")
    if rest and head.rsplit(".", 1)[-1] == error.cls_name:
        return one_line(rest if error.cls_name == "Failure" else f"{error.cls_name}: {rest}")
    return one_line(error.message)


def _run_error(result: dg.ExecuteInProcessResult) -> SerializableErrorInfo | None:
    """The innermost cause of a failure outside any step (a resource that failed to
    initialise, e.g. a read the domain's pipeline is not granted; the run's own failure), or
    None."""
    for event in result.all_events:
        error = (event.engine_event_data.error if event.is_resource_init_failure
                 else event.job_failure_data.error if event.is_run_failure else None)
        if error is not None:
            while error.cause is not None:
                error = error.cause
            return error
    return None


def failed_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per failed step of a run: job, step key and the error's message (the
    innermost cause, without its traceback); when no step failed, the run's own failure with
    the innermost cause of what failed outside any step (`_run_error`), e.g. `<job>: run <id>
    failed: permission denied: ...`."""
    lines = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None and (
                    error.cls_name or "").startswith("DagsterExecution"):
                error = error.cause
            message = _error_message(error) if error is not None else "failed"
            lines.append(f"{result.job_def.name}: step {event.step_key} failed: {message}")
    if lines:
        return lines
    error = _run_error(result)
    return [f"{result.job_def.name}: run {result.run_id} failed"
            + (f": {_error_message(error)}" if error is not None else "")]


def materialize_range(
    start: str | None, end: str | None, domain: str | None = None, *, say: Say = print,
    verbose: bool = False, force: bool = False, model: str | None = None,
) -> list[dg.ExecuteInProcessResult]:
    """Per domain of `plan`: `<domain>_daily_refresh` over its days as one run, then each of
    its models' (only `model`'s, when given) `<model>_train_validate_deploy` (training only
    when the data versions changed, unless `force`) and `<model>_batch_score` (when declared),
    then
    `<domain>_monitoring_refresh` (when it declares monitors); last, `governance_audit` (the
    governance report of the whole lakehouse). Each run's OpenLineage events are emitted once
    it has ended (`defs.lineage_events.emit_ended_run`).

    When the daily refresh fails, the domain's other jobs are not run; when a model job fails
    (e.g. batch scoring before any champion), the domain's later model jobs are not run but
    its monitoring refresh still is (the feature tables' monitors need no champion). The other
    domains always run. ValueError (a usage error) or LookupError before anything runs, see
    `plan`."""
    settings = Settings.from_env()
    ranges = plan(domain, start, end, settings.landing, say, model)
    monitored = {name for name, declared in discover().declared.items() if declared.monitors}
    from lakehouse_ml.definitions import defs

    definitions, instance = defs(), _instance(say)
    end_dead_runs(instance, settings.mlflow_tracking_uri, say)
    config = VERBOSE if verbose else QUIET
    catalog = Catalog(settings.root, settings.env)
    results = []

    def execute(job: str, run_config: dict, tags: dict[str, str] | None = None
                ) -> dg.ExecuteInProcessResult:
        result = definitions.resolve_job_def(job).execute_in_process(
            instance=instance, run_config=run_config, raise_on_error=False,
            tags={**process_tags(), **(tags or {})})
        _openlineage(catalog, instance, result.run_id, say)
        return result

    for planned in ranges:
        name = planned.domain.name
        say(f"{name}: {names.daily_refresh(name)} over {planned.start} .. {planned.end}")
        results.append(execute(names.daily_refresh(name), config, {
            ASSET_PARTITION_RANGE_START_TAG: planned.start,
            ASSET_PARTITION_RANGE_END_TAG: planned.end}))
        if not results[-1].success:
            say(f"{name}: {names.daily_refresh(name)} failed; its models and monitors not run")
            continue
        failed, skipped = None, []
        for job, run_config in [(job, run_config) for model in planned.models
                                for job, run_config in _model_jobs(model, config, force)]:
            if failed:
                skipped.append(job)
                continue
            say(f"{name}: {job}")
            results.append(execute(job, run_config))
            failed = None if results[-1].success else job
        if skipped:
            say(f"{name}: not run after {failed} failed: {', '.join(skipped)}")
        if name in monitored:
            job = names.monitoring_refresh(name)
            say(f"{name}: {job}" + (f" (although {failed} failed: the feature tables' "
                                    "monitors need no champion)" if failed else ""))
            results.append(execute(job, config))
    say(f"{GOVERNANCE_JOB}: the whole lakehouse, every domain")
    results.append(execute(GOVERNANCE_JOB, config))
    return results


def _openlineage(catalog: Catalog, instance: dg.DagsterInstance, run_id: str, say: Say
                 ) -> None:
    """The OpenLineage START and COMPLETE/FAIL events of a run executed in process (no run
    status sensor sees it; see `defs.lineage_events`); a transport that fails is said in one
    line and the next jobs run."""
    try:
        emit_ended_run(catalog, instance, run_id)
    except Exception as error:  # an unreachable endpoint must not stop the pipeline
        say(f"openlineage: the events of run {run_id} were not emitted: "
            f"{type(error).__name__}: {one_line(error)}")


def _model_jobs(model: ModelSpec, config: dict, force: bool) -> list[tuple[str, dict]]:
    """`model`'s jobs in order with their run config: training, then batch scoring (when
    declared)."""
    return [(names.train_validate_deploy(model.name),
             {**config, **train_run_config(model, force=force)}),
            *([(names.batch_score(model.name), config)] if model.batch_scoring else [])]


def future_lines(landing: str, domain: Domain) -> list[str]:
    """One line naming `domain`'s day folders dated after tomorrow (UTC), which are left out
    of its range and not ingested (`future_folders`); none when there are none."""
    future = future_folders(landing, domain)
    return [f"{domain.name}: left out, dated after {last_day()} (tomorrow, UTC; a mistyped "
            f"day?): {', '.join(future)}: not ingested"] if future else []


def undeclared_lines(landing: str, declared: dict[str, Declared]) -> list[str]:
    """One line per path at the root of `landing` that is no source folder of the `declared`
    domains (`ingest.layout.undeclared_folders`), e.g. `landing: reading/: no domain declares
    it: its 1 file(s) are not ingested`. A broken package's folders are among them (its
    sources are unknown)."""
    folders = [s.name for d in declared.values() for s in d.domain.sources]
    return [f"landing: {stray.relative}: {stray.reason}"
            for stray in undeclared_folders(landing, folders)]


def describe_domains(landing: str) -> list[str]:
    """Per healthy declared domain, lines: its description, sources, landed days, models and
    jobs (the broken packages: `lakehouse_ml.domains.discover().broken`); then one line per
    path at the landing root that no domain declares (`undeclared_lines`)."""
    lines = []
    discovered = discover().declared
    for name, declared in discovered.items():
        domain, models = declared.domain, declared.models
        days = landed_days(landing, domain)
        jobs = [names.daily_refresh(name), names.weekly_maintenance(name),
                *(job for m in models for job in (
                    names.train_validate_deploy(m.name),
                    *([names.batch_score(m.name)] if m.batch_scoring else []))),
                *([names.monitoring_refresh(name)] if declared.monitors else [])]
        lines += [f"{name}: {domain.description}",
                  f"  sources: {', '.join(s.name for s in domain.sources)}",
                  f"  landed:  {f'{days[0]} .. {days[-1]} ({len(days)} days)' if days else 'none'}",
                  f"  models:  {', '.join(m.name for m in models) or 'none'}",
                  f"  jobs:    {', '.join(jobs)}"]
        lines += future_lines(landing, domain)
    return lines + undeclared_lines(landing, discovered)


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
            elif event.is_step_materialization and "report_path" in (
                    meta := event.step_materialization_data.materialization.metadata):
                console.print(f"governance report: {meta['report_path'].value} (critical "
                              f"{meta['findings_critical'].value}, high "
                              f"{meta['findings_high'].value})", markup=False, soft_wrap=True)
            elif event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
                meta = event.asset_observation_data.asset_observation.metadata
                if "not_retrained" in meta:
                    console.print(meta["not_retrained"].text, markup=False, soft_wrap=True)
    for result in results:
        state = "[green]succeeded" if result.success else "[red]failed"
        console.print(f"run {result.run_id} ({result.job_def.name}) {state}")
