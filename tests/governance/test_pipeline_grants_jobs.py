"""The model and monitoring jobs run as the domain's service principal with exactly the grants
the engine derives from churn's declarations (issue 13; `governance.domain_grants`): table by
table, nothing schema-wide but USE SCHEMA and CREATE TABLE. `churn_clf_train_validate_deploy`,
`churn_clf_batch_score` and `churn_monitoring_refresh`, the code location's own jobs
(`lakehouse_ml.definitions`, acting as `churn-pipeline` with the churn policy and the derived
grants applied before the first asset), one after the other on
a copy of the churn history (what the daily refresh leaves; that job is
tests/governance/test_enforcement_pipeline.py's).

For each job: it succeeds; every privilege its allowed audit records needed comes from a
derived grant (not ownership, not admin), and those are exactly the grants the job needs
(`NEEDS`, so a job that starts writing what it only read fails here); together the three use
every derived grant on churn's model and monitoring tables but those named in `UNUSED`; and
without one of the
grants it used, it fails with a denial naming principal, privilege and securable (`REVOKED`),
in the audit log as a 403. Each revocation runs on a copy of the lakehouse as it was before
the job, so that the job has everything still to do (a second run skips what is done: no
retraining on the same data, no new monitoring window)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import ACCESS_ACTION, READ, READ_WRITE
from lakehouse_ml.catalog.catalog import VERSION_ACTION
from lakehouse_ml.config import Settings
from lakehouse_ml.definitions import defs
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.resources import apply_domain_grants, apply_policies
from lakehouse_ml.domains import discover
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT
from lakehouse_ml.governance.domain_grants import plan
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.ml.deploy import ALIAS_ACTION
from tests.conftest import close_writers, history_copy, history_settings, project_instance

pytestmark = pytest.mark.timeout(1800)  # the module's lakehouse trains the model: minutes
POLICY = Path(__file__).parents[2] / "lakehouse_ml" / "domains" / "churn" / "policy.yaml"
PRINCIPAL = "churn-pipeline"
TRAIN, SCORE = names.train_validate_deploy(MODEL.name), names.batch_score(MODEL.name)
MONITOR = names.monitoring_refresh("churn")
JOBS = (TRAIN, SCORE, MONITOR)

Grant = tuple[str, str]
"""(privilege, securable the grant is on: `TYPE full_name`)."""
CATALOG: set[Grant] = {("USE CATALOG", "CATALOG dev")}
MODEL_MANAGE: Grant = ("MANAGE", "MODEL dev.churn.churn_clf")
"""Registering a version of the model and moving its aliases (it is owned by `ml`)."""


FEATURES = tuple(f"gold.{name}" for name in ("customer_engagement", "customer_profile",
                                              "customer_recency", "customer_support"))
LABELS, KEYS = "silver.churn_labels", "silver.customers"
TRAINING_SET, PREDICTIONS = "churn.training_set", "churn.predictions"
METRICS = tuple(f"monitoring.{table.replace('.', '_')}_{kind}_metrics"
                for table in (*FEATURES, PREDICTIONS) for kind in ("profile", "drift"))


def _tables(privilege: str, *tables: str) -> set[Grant]:
    return {(privilege, f"TABLE dev.{table}") for table in tables}


def _schemas(privilege: str, *schemas: str) -> set[Grant]:
    return {(privilege, f"SCHEMA dev.{schema}") for schema in schemas}


NEEDS: dict[str, set[Grant]] = {
    # features (gold) and labels (silver) -> churn.training_set; gates and alias moves
    # recorded in churn.validation_results and churn.alias_changes
    TRAIN: CATALOG | _schemas("USE SCHEMA", "gold", "silver", "churn")
    | _schemas("CREATE TABLE", "churn") | _tables("SELECT", *FEATURES, LABELS, TRAINING_SET)
    | _tables("MODIFY", TRAINING_SET, "churn.validation_results", "churn.alias_changes")
    | {MODEL_MANAGE},
    # the champion (EXECUTE) scores the eligible customers (silver, gold) -> churn.predictions
    SCORE: CATALOG | _schemas("USE SCHEMA", "gold", "silver", "churn")
    | _schemas("CREATE TABLE", "churn")
    | _tables("SELECT", *FEATURES, LABELS, KEYS, PREDICTIONS) | _tables("MODIFY", PREDICTIONS)
    | {("EXECUTE", "MODEL dev.churn.churn_clf")},
    # the monitored tables (gold, churn), the baseline (churn) and the labels the scores'
    # quality is measured with (silver) -> monitoring.*
    MONITOR: CATALOG | _schemas("USE SCHEMA", "gold", "churn", "silver", "monitoring")
    | _schemas("CREATE TABLE", "monitoring")
    | _tables("SELECT", *FEATURES, PREDICTIONS, TRAINING_SET, LABELS, *METRICS)
    | _tables("MODIFY", *METRICS),
}
"""What each job needs: the grants its audited calls use."""
UNUSED: set[Grant] = _tables("SELECT", "churn.validation_results", "churn.alias_changes") | {
    (privilege, f"TABLE dev.{table}") for privilege in ("SELECT", "MODIFY") for table in (
        "churn.inference_log", "monitoring.churn_inference_log_profile_metrics",
        "monitoring.churn_inference_log_drift_metrics")}
"""Derived grants these jobs do not use: the lifecycle records are read by a rollback and the
governance audit; serving writes the inference log, and its monitor has nothing to read until
it does."""
REVOKED = {TRAIN: [("MODIFY", f"TABLE dev.{TRAINING_SET}"), MODEL_MANAGE],
           SCORE: [("EXECUTE", "MODEL dev.churn.churn_clf"),
                   ("MODIFY", f"TABLE dev.{PREDICTIONS}")],
           MONITOR: [("MODIFY", f"TABLE dev.{METRICS[2]}")]}
"""The grants taken away one at a time (each a run of minutes on a loaded machine): the one
each job writes its tables with, and the one batch scoring alone uses (loading the model)."""
DENIAL = re.compile(rf"permission denied: '{PRINCIPAL}' does not have (?P<privilege>[A-Z ]+?) "
                    r"on (?P<type>[A-Z]+) (?P<name>[\w.]+)")


@dataclass(frozen=True)
class Pipeline:
    settings: Settings
    before: dict[str, Path]
    """Copies of the lakehouse folder as it was before each job ran."""
    used: dict[str, list[pv.Source]]
    """Each job's sources of the privileges its allowed audit records needed."""


def _environment(settings: Settings) -> dict[str, str]:
    return {"LAKEHOUSE_ROOT": settings.root, "LAKEHOUSE_LANDING": settings.landing,
            "LAKEHOUSE_ENV": settings.env, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}


def _jobs(settings: Settings) -> dict[str, dg.JobDefinition]:
    """The code location's jobs with their resources configured for `settings` (the pipeline's
    principal and policies, as `lakehouse_ml.defs.resources` finds them)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in _environment(settings).items():
            patch.setenv(key, value)
        definitions = defs()
        return {job: definitions.resolve_job_def(job) for job in JOBS}


def _run(settings: Settings, job: str) -> dg.ExecuteInProcessResult:
    with project_instance() as instance:
        return _jobs(settings)[job].execute_in_process(instance=instance, raise_on_error=False)


def _records(settings: Settings) -> pl.DataFrame:
    """The pipeline principal's audit records: sequence, action, params (dict), status."""
    audit_log(settings.root, settings.env).flush()
    frame = Catalog(settings.root, settings.env, governed=False).read(AUDIT).filter(
        pl.col("user_identity").struct.field("email") == PRINCIPAL)
    return frame.select("sequence", "action_name", "request_params",
                        pl.col("response").struct.field("status_code").alias("status"),
                        pl.col("response").struct.field("error_message").alias("error"))


def _last(settings: Settings) -> int:
    """The sequence number of the principal's latest audit record (-1: none yet)."""
    last = _records(settings)["sequence"].max()
    return -1 if last is None else int(last)


def _needed(action: str, params: dict[str, str]) -> tuple[str, str, str]:
    """(privilege, type, name) the allowed call `action` was checked for: a new model version
    and an alias move MANAGE on the model (the policy declares it already: serving's EXECUTE
    grant names it, so the pipeline never creates it)."""
    securable = params.get("securable", "")
    if action in (VERSION_ACTION, ALIAS_ACTION):
        return pv.MANAGE, s.MODEL, securable or params["full_name_arg"]
    if action == ACCESS_ACTION and params["method"] == "load_model":
        return pv.EXECUTE, s.MODEL, securable
    if action == ACCESS_ACTION and params["operation"] in (READ, READ_WRITE):
        return (pv.SELECT if params["operation"] == READ else pv.MODIFY), s.TABLE, securable
    if action == "createTable":
        return pv.CREATE_TABLE, s.SCHEMA, securable.rsplit(".", 1)[0]
    raise AssertionError(f"an audited action this test does not know: {action} {params}")


def _sources(settings: Settings, records: pl.DataFrame) -> list[pv.Source]:
    """Where each privilege the allowed `records` needed (and USE on its containers) comes
    from; AssertionError naming a call whose privilege the principal does not hold."""
    metastore = Metastore(settings.root, settings.env)
    needs = set()
    for action, params in records.filter(pl.col("status") == 200).select(
            "action_name", "request_params").iter_rows():
        need = _needed(action, {p["key"]: p["value"] for p in params})
        needs |= {need, *pv.usage_requirements(metastore.securable(*need[1:]))}
    found = []
    for privilege, kind, name in sorted(needs):
        held = [source for source in metastore.effective_privileges(PRINCIPAL, kind, name)
                if source.privilege == privilege]
        assert held, (privilege, kind, name)
        found += held
    return found


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings
             ) -> Iterator[Pipeline]:
    """The three jobs run in order on one copy of the churn history, a copy of the whole
    folder (lakehouse and MLflow store) kept before each."""
    base = tmp_path_factory.mktemp("pipeline-grants")
    settings = history_copy(churn_history, base / "run")
    before, used = {}, {}
    for job in JOBS:
        close_writers()  # every record on disk before the copy
        before[job] = base / f"before-{job}"
        shutil.copytree(base / "run", before[job])
        start = _last(settings)
        result = _run(settings, job)
        assert result.success, (job, _failures(result))
        records = _records(settings).filter(pl.col("sequence") > start)
        assert records.filter(pl.col("status") != 200).is_empty(), records
        used[job] = _sources(settings, records)
    yield Pipeline(settings, before, used)
    close_writers()


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    """The messages of the run's failed steps, with their causes."""
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            while error is not None:
                messages.append(error.message.strip())
                error = error.cause
    return messages


def _declared() -> set[Grant]:
    """The grants the pipeline holds as churn's: those the engine derives from churn's
    declarations, and any its policy gives it, as (privilege, `TYPE dev.name`)."""
    declared = {(privilege, securable) for securable, _, privilege in
                plan(discover().declared["churn"], "dev").grants}
    for grant in yaml.safe_load(POLICY.read_text())["grants"]:
        if grant["to"] == PRINCIPAL:
            kind, _, name = grant["securable"].partition(" ")
            on = f"{kind} dev" + (f".{name}" if name else "")
            declared |= {(privilege, on) for privilege in grant["privileges"]}
    return declared


@pytest.mark.parametrize("job", JOBS)
def test_the_job_uses_only_declared_grants_and_each_one_it_needs(
        pipeline: Pipeline, job: str) -> None:
    sources = pipeline.used[job]
    assert {source.via for source in sources} == {"grant"}  # not ownership, not admin
    assert {source.grantee for source in sources} == {PRINCIPAL}
    used = {(source.privilege, source.securable) for source in sources}
    assert used <= _declared(), sorted(used - _declared())
    assert used == NEEDS[job], (sorted(used - NEEDS[job]), sorted(NEEDS[job] - used))


def test_the_jobs_use_every_derived_grant_on_the_model_and_monitoring_tables(
        pipeline: Pipeline) -> None:
    used = {(s.privilege, s.securable) for job in JOBS for s in pipeline.used[job]}
    theirs = {g for g in _declared()
              if g[1].startswith(("TABLE dev.churn.", "TABLE dev.monitoring.", "MODEL "))}
    assert theirs - used == UNUSED
    # the model the pipeline registers versions of is the policy's, not the pipeline's own
    model = Metastore(pipeline.settings.root, "dev").securable(s.MODEL, "churn.churn_clf")
    assert model.owner == "ml"


@pytest.mark.parametrize(("job", "privilege", "on"), [
    (job, privilege, on) for job in JOBS for privilege, on in REVOKED[job]])
def test_without_a_grant_it_used_the_job_fails_naming_it(
        pipeline: Pipeline, tmp_path: Path, job: str, privilege: str, on: str) -> None:
    assert (privilege, on) in NEEDS[job]
    shutil.copytree(pipeline.before[job], tmp_path / "copy")
    settings = history_settings(tmp_path / "copy", Path(pipeline.settings.landing),
                                f"sqlite:///{tmp_path / 'copy' / 'mlflow' / 'mlflow.db'}")
    kind, _, name = on.partition(" ")
    # the policy as the job's process applies it before its first asset (once per process and
    # file version: a grant revoked afterwards stays revoked), then one grant taken away
    apply_policies(settings.root, settings.env, [str(POLICY.parents[1] / "policy.yaml"),
                                                 str(POLICY)])  # the project's first
    apply_domain_grants(settings.root, settings.env, ["churn"])
    metastore = Metastore(settings.root, settings.env)
    metastore.revoke([privilege], kind, name, PRINCIPAL, as_principal=local_user())
    start = _last(settings)
    result = _run(settings, job)
    assert not result.success
    denials = [m for m in (DENIAL.search(text) for text in _failures(result)) if m]
    assert denials, _failures(result)
    named = denials[0]
    assert named["privilege"] == privilege, named.group(0)
    assert named["name"] == name or named["name"].startswith(f"{name}."), named.group(0)
    logged = _records(settings).filter(pl.col("sequence") > start, pl.col("status") == 403)
    assert any(named.group(0) in error for error in logged["error"]), logged
