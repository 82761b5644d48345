"""`forget` plans every place, then checks, then changes: a principal with MODIFY on every
table holding the subject but no MANAGE on the registered model whose artifacts hold it (an
input example, a table its run logged) is denied, in the real run and the dry run alike, before
any byte of a table, a landed file or an artifact changes, and the denial is audited once;
given MANAGE on the model, the same request erases it everywhere. On the small lakehouse of
`test_erasure_attack` and the packaged model of `test_erasure_files_artifacts` (real Delta
tables, a real MLflow sqlite store)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.cli import app
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_LOG
from lakehouse_ml.governance.erasure_files import erase_model_artifacts
from lakehouse_ml.governance.erasure_models import NEEDS_RETRAINING
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.ml.packaging import load_packaged
from lakehouse_ml.ml.registry import use_experiment, use_tracking
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from tests.conftest import close_writers
from tests.governance.test_erasure_attack import ENV, lakehouse, remaining
from tests.governance.test_erasure_files_artifacts import (  # noqa: F401 - store: a fixture
    NAME,
    SUBJECT,
    example,
    register,
    run_files,
    store,
)
from tests.test_ingest_landing import CUSTOMER_HEADER, customer

LANDED = "customers/2026-03-01/part-0.csv"
DENIED = ("permission denied: 'mallory' does not have MANAGE on MODEL dev.churn.churn_clf "
          "(needed to rewrite the artifacts of model dev.churn.churn_clf)")


def built(tmp_path: Path) -> tuple[dict[str, str], int]:
    """The attack test's lakehouse (customer 42 in three tables), a landed customers file with
    42, and version 1 of the churn model whose input example and logged table hold 42, pinned
    to a training set without 42 (so no version is to be tagged: only its artifacts change).
    mallory may change every table holding 42 and the bronze schema (the landed file was never
    ingested: no manifest table guards it), nothing on the declared model. Returns the CLI's
    environment and the version."""
    root = lakehouse(tmp_path / "lake")
    landed = tmp_path / "landing" / LANDED
    landed.parent.mkdir(parents=True)
    landed.write_text(f"{CUSTOMER_HEADER}\n{customer(7)}\n{customer(42)}\n")
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    client = use_tracking(uri)
    use_experiment(client, "/dev/churn/churn_clf")
    version = register(client, [9001, 42, 91017], table=example([42, 17]))
    catalog = Catalog(root, ENV)
    frame = pl.DataFrame({"customer_id": [7, 420], "label": [0, 1]})
    catalog.create_table(MODEL.training_set.name, frame.schema, TableInfo(owner="team:ml"))
    catalog.overwrite(MODEL.training_set.name, frame)
    pins = {str(catalog.name(MODEL.training_set.name)): 0}
    client.set_model_version_tag(NAME, str(version), DATA_VERSIONS, json.dumps(pins))
    metastore = Metastore(root, ENV)  # governed: the local user is its admin
    metastore.add_principal("mallory")
    metastore.create("MODEL", NAME)
    metastore.grant(["USE CATALOG"], "CATALOG", ENV, "mallory")
    for schema in ("bronze", "silver", "ops", "churn"):
        metastore.grant(["USE SCHEMA"], "SCHEMA", schema, "mallory")
    for table in ("bronze.people", "silver.people", "ops.requests"):
        metastore.grant(["MODIFY"], "TABLE", table, "mallory")
    metastore.grant(["MODIFY"], "SCHEMA", "bronze", "mallory")
    close_writers()
    return {"LAKEHOUSE_ROOT": root, "LAKEHOUSE_ENV": ENV, "MLFLOW_TRACKING_URI": uri,
            "LAKEHOUSE_LANDING": str(tmp_path / "landing")}, version


def forget(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(app, ["forget", "--key", "customer_id=42", "--as",
                                             "mallory", *args])
    close_writers()  # the audit log's buffer, as at the process's exit
    return result.exit_code, result.output


def tree(folder: Path) -> dict[str, str]:
    """Every file's sha256 but the audit log's and its chain head's (the denial's record)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()
            and not any(a in p.as_posix() for a in ("/audit_log/", "/audit_head.json"))}


def by_mallory(root: str) -> pl.DataFrame:
    catalog = Catalog(root, ENV)
    log = catalog.lake.read(catalog.location(AUDIT_LOG))
    return log.filter(pl.col("user_identity").struct.field("email") == "mallory").select(
        "action_name", status=pl.col("response").struct.field("status_code"),
        securable=pl.col("request_params").list.eval(
            pl.element().filter(pl.element().struct.field("key") == "securable")
            .struct.field("value")).list.first())


@pytest.mark.parametrize("dry_run", [False, True])
def test_without_manage_on_the_model_nothing_changes_anywhere(tmp_path: Path,
                                                              dry_run: bool) -> None:
    env, version = built(tmp_path)
    before = tree(tmp_path)

    code, out = forget(env, *(["--dry-run"] if dry_run else []))

    assert code == 1 and out.count("\n") == 1, out
    assert DENIED in out
    assert tree(tmp_path) == before  # tables, landed file, artifacts, MLflow store: no byte
    assert by_mallory(env["LAKEHOUSE_ROOT"]).rows() == [
        ("checkPermission", 403, "MODEL dev.churn.churn_clf")]  # once, nothing else


def test_with_manage_on_the_model_every_place_is_erased(tmp_path: Path) -> None:
    env, version = built(tmp_path)
    Metastore(env["LAKEHOUSE_ROOT"], ENV).grant(["MANAGE"], "MODEL", NAME, "mallory")

    code, out = forget(env)

    assert code == 0, out
    assert remaining(env["LAKEHOUSE_ROOT"]) == {
        "bronze": ["7", "420", "4200"], "silver": [7, 420, 4200],
        "requests": ["r7", "r420", "r4200"]}
    assert (tmp_path / "landing" / LANDED).read_text() == f"{CUSTOMER_HEADER}\n{customer(7)}\n"
    packaged = load_packaged(f"models:/{NAME}/{version}")  # verified against new digests
    assert packaged.input_example["customer_id"].tolist() == [9001, 91017]
    client = use_tracking(env["MLFLOW_TRACKING_URI"])
    assert json.loads(run_files(client, version)["tables/sample.json"])["data"] == [[17, 17.0]]
    assert NEEDS_RETRAINING not in client.get_model_version(NAME, str(version)).tags
    records = by_mallory(env["LAKEHOUSE_ROOT"])
    assert records.filter(pl.col("status") == 403).is_empty()
    assert records.filter(pl.col("action_name") == "forgetSubject")["status"].to_list() == [200]


def test_a_run_of_an_experiment_named_for_no_model_needs_manage_on_the_catalog(
        store: tuple[Path, MlflowClient]) -> None:  # noqa: F811
    root, client = store
    use_experiment(client, "/dev/evaluations")
    with mlflow.start_run() as run:
        mlflow.log_table(example([90017, 5]), "eval/rows.json")
    logged = Path(client.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://"),
                  "eval/rows.json")
    before = logged.read_bytes()
    metastore = Metastore(str(root), ENV)
    metastore.add_principal("mallory")
    metastore.grant(["USE CATALOG"], "CATALOG", ENV, "mallory")

    for dry_run in (True, False):
        with pytest.raises(PermissionDenied, match=r"'mallory' does not have MANAGE on CATALOG "
                           r"dev \(needed to rewrite MLflow artifacts no model of dev governs"):
            erase_model_artifacts(root, ENV, SUBJECT, dry_run=dry_run, principal="mallory")
    assert logged.read_bytes() == before

    metastore.grant(["MANAGE"], "CATALOG", ENV, "mallory")
    places = erase_model_artifacts(root, ENV, SUBJECT, dry_run=False, principal="mallory")
    assert [(p.name, p.rows) for p in places] == [(f"runs:/{run.info.run_id}/eval/rows.json", 1)]
    assert json.loads(logged.read_bytes())["data"] == [[5, 5.0]]
