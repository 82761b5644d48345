"""`forget` attacked as a new user would: keys spelled otherwise than the lakehouse spells
them, malformed keys, a principal without MODIFY. On a small real lakehouse of Delta tables
in a tmp dir: bronze keeps the key as text, silver typed, a logged request names it inside a
JSON body."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.cli import app
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_LOG
from lakehouse_ml.governance.erasure import forget
from lakehouse_ml.governance.erasure_models import NEEDS_RETRAINING
from lakehouse_ml.governance.erasure_places import Subject
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from lakehouse_ml.monitoring.pii import digest
from tests.conftest import close_writers
from tests.test_ingest_landing import CUSTOMER_HEADER, customer

ENV = "dev"
IDS = [7, 42, 420, 4200]


def lakehouse(root: Path) -> str:
    catalog = Catalog(str(root), ENV)
    emails = [f"user{i}@example.com" for i in IDS]
    tables = {
        "bronze.people": pl.DataFrame({"customer_id": [str(i) for i in IDS], "email": emails,
                                       "_record_id": [f"f#{i}" for i in IDS]}),
        "silver.people": pl.DataFrame({"customer_id": IDS, "email": emails}),
        "ops.requests": pl.DataFrame({
            "request_id": [f"r{i}" for i in IDS],
            "request": [json.dumps({"dataframe_records": [{"customer_id": i}]}) for i in IDS]}),
    }
    for name, frame in tables.items():
        pii = {"email": ["pii"]} if "email" in frame.columns else {}
        catalog.create_table(name, frame.schema, TableInfo(owner="team:data", column_tags=pii))
        catalog.overwrite(name, frame)
    return str(root)


def remaining(root: str) -> dict[str, list]:
    catalog = Catalog(root, ENV)
    return {"bronze": catalog.read("bronze.people")["customer_id"].to_list(),
            "silver": catalog.read("silver.people")["customer_id"].to_list(),
            "requests": catalog.read("ops.requests")["request_id"].to_list()}


def mallory_modifies_every_table(root: str) -> Metastore:
    """The metastore of `root`, where principal mallory holds USE CATALOG and SELECT on the
    catalog and USE SCHEMA and MODIFY on every table `lakehouse` makes."""
    metastore = Metastore(root, ENV)
    metastore.add_principal("mallory")
    metastore.grant(["USE CATALOG", "SELECT"], "CATALOG", ENV, "mallory")
    for schema, table in (("bronze", "people"), ("silver", "people"), ("ops", "requests")):
        metastore.grant(["USE SCHEMA"], "SCHEMA", schema, "mallory")
        metastore.grant(["MODIFY"], "TABLE", f"{schema}.{table}", "mallory")
    return metastore


@pytest.mark.parametrize("spelled", ["042", "+42", "0042", "42"])
def test_a_key_spelled_otherwise_erases_every_place_the_lakehouse_spells_it(
        tmp_path: Path, spelled: str) -> None:
    root = lakehouse(tmp_path / "lake")

    report = forget(root, ENV, Subject.parse(f"customer_id={spelled}"), dry_run=False)

    assert remaining(root) == {"bronze": ["7", "420", "4200"], "silver": [7, 420, 4200],
                               "requests": ["r7", "r420", "r4200"]}
    assert report.key == f"customer_id={digest('42')}"  # one subject, one hash
    assert {p.name for p in report.places} == {"dev.bronze.people", "dev.silver.people",
                                               "dev.ops.requests"}


def registered(root: str, tmp_path: Path) -> str:
    """The churn model's version 1 registered in a real MLflow store, pinned to version 0 of
    a training set `churn.training_set` holding every customer (as training tags it)."""
    catalog = Catalog(root, ENV)
    frame = pl.DataFrame({"customer_id": IDS, "label": [0, 1, 0, 1]})
    catalog.create_table(MODEL.training_set.name, frame.schema, TableInfo(owner="team:ml"))
    catalog.overwrite(MODEL.training_set.name, frame)
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    client = use_tracking(uri)
    name = MODEL.registered_name(ENV)
    client.create_registered_model(name)
    pins = {str(catalog.name(MODEL.training_set.name)): catalog.version(MODEL.training_set.name)}
    (tmp_path / "model").mkdir()  # its artifacts: none with rows
    client.create_model_version(name, str(tmp_path / "model"),
                                tags={DATA_VERSIONS: json.dumps(pins)})
    return uri


def test_forget_twice_and_another_subject_after_it_end_well(tmp_path: Path) -> None:
    root = lakehouse(tmp_path / "lake")
    uri = registered(root, tmp_path)
    env = {"LAKEHOUSE_ROOT": root, "LAKEHOUSE_ENV": ENV, "MLFLOW_TRACKING_URI": uri,
           "LAKEHOUSE_LANDING": str(tmp_path / "no-landing")}

    def cli(key: str) -> tuple[int, str]:
        result = CliRunner(env=env).invoke(app, ["forget", "--key", key])
        return result.exit_code, result.output

    code, out = cli("customer_id=42")
    assert code == 0 and "dev.churn.churn_clf/1: erased 1 row(s) (tagged needs_retraining)" \
        in out, out
    code, out = cli("customer_id=42")  # nothing left: said, not failed
    assert code == 0 and "nothing to erase" in out, out

    code, out = cli("customer_id=7")  # the pinned version was purged by the first erasure
    assert code == 0, out
    assert "dev.churn.churn_clf/1: erased 0 row(s) (tagged needs_retraining); " \
           "dev.churn.training_set version" in out  # fail closed, said, not a failure
    tags = use_tracking(uri).get_model_version(MODEL.registered_name(ENV), "1").tags
    assert f"customer_id={digest('7')}" in tags[NEEDS_RETRAINING]
    catalog = Catalog(root, ENV)
    records = catalog.lake.read(catalog.location(AUDIT_LOG)).filter(
        pl.col("action_name") == "forgetSubject")
    assert records["response"].struct.field("status_code").to_list() == [200, 200, 200]


def test_a_principal_without_privileges_cannot_tag_models_through_a_bogus_key(
        tmp_path: Path) -> None:
    root = lakehouse(tmp_path / "lake")
    uri = registered(root, tmp_path)
    metastore = Metastore(root, ENV)  # governed: the local user is its admin
    metastore.add_principal("mallory")
    metastore.grant(["USE CATALOG", "SELECT"], "CATALOG", ENV, "mallory")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "churn", "mallory")
    env = {"LAKEHOUSE_ROOT": root, "LAKEHOUSE_ENV": ENV, "MLFLOW_TRACKING_URI": uri,
           "LAKEHOUSE_LANDING": str(tmp_path / "no-landing")}
    assert CliRunner(env=env).invoke(app, ["forget", "--key", "customer_id=42"]).exit_code == 0
    client = use_tracking(uri)
    tagged = client.get_model_version(MODEL.registered_name(ENV), "1").tags[NEEDS_RETRAINING]

    # no table holds 999999; the version's pin was purged, so it would count as trained on it
    result = CliRunner(env=env).invoke(
        app, ["forget", "--key", "customer_id=999999", "--as", "mallory"])

    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "'mallory' does not have MANAGE on" in result.output
    assert client.get_model_version(MODEL.registered_name(ENV), "1").tags[
        NEEDS_RETRAINING] == tagged  # not tagged again
    close_writers()  # the audit log's buffer, as at the process's exit
    catalog = Catalog(root, ENV)
    log = catalog.lake.read(catalog.location(AUDIT_LOG))
    by_mallory = log.filter(pl.col("user_identity").struct.field("email") == "mallory")
    assert by_mallory["response"].struct.field("status_code").to_list() == [403]


def test_a_landed_file_never_ingested_is_planned_with_the_tables_and_needs_modify_on_bronze(
        tmp_path: Path) -> None:
    """A principal with MODIFY on every table holding the subject but not on the bronze schema
    may not rewrite a customers file its source never ingested (no manifest table guards it):
    denied before any table or file changes, dry run alike, one 403 each."""
    root = lakehouse(tmp_path / "lake")
    landing = tmp_path / "landing"
    landed = landing / "customers" / "2026-03-01" / "part-0.csv"
    landed.parent.mkdir(parents=True)
    landed.write_bytes(f"{CUSTOMER_HEADER}\n{customer(42)}\n{customer(7)}\n".encode())
    before = landed.read_bytes()
    metastore = mallory_modifies_every_table(root)

    for dry_run in (True, False):
        with pytest.raises(PermissionDenied,
                           match="'mallory' does not have MODIFY on SCHEMA dev.bronze"):
            forget(root, ENV, Subject.parse("customer_id=42"), dry_run=dry_run,
                   principal="mallory", landing=str(landing))
    assert landed.read_bytes() == before
    assert "42" in remaining(root)["bronze"]
    close_writers()
    catalog = Catalog(root, ENV)
    log = catalog.lake.read(catalog.location(AUDIT_LOG))
    by_mallory = log.filter(pl.col("user_identity").struct.field("email") == "mallory")
    assert by_mallory["response"].struct.field("status_code").to_list() == [403, 403]

    metastore.grant(["MODIFY"], "SCHEMA", "bronze", "mallory")
    report = forget(root, ENV, Subject.parse("customer_id=42"), dry_run=False,
                    principal="mallory", landing=str(landing))
    assert landed.read_bytes() == f"{CUSTOMER_HEADER}\n{customer(7)}\n".encode()
    assert "customers/2026-03-01/part-0.csv" in {p.name for p in report.places}
    assert "42" not in remaining(root)["bronze"]


def test_a_table_the_principal_may_not_see_is_denied_not_skipped(tmp_path: Path) -> None:
    """The erasure plans over every table, not only those its principal may list: a table
    holding the subject that mallory may not even see is a denial naming it, with nothing
    changed anywhere; skipping it would report an erasure that left the subject in bronze."""
    root = lakehouse(tmp_path / "lake")
    metastore = Metastore(root, ENV)
    metastore.add_principal("mallory")
    metastore.grant(["USE CATALOG"], "CATALOG", ENV, "mallory")
    for schema, table in (("silver", "people"), ("ops", "requests")):
        metastore.grant(["USE SCHEMA"], "SCHEMA", schema, "mallory")
        metastore.grant(["SELECT", "MODIFY"], "TABLE", f"{schema}.{table}", "mallory")
    before = remaining(root)

    for dry_run in (True, False):
        with pytest.raises(PermissionDenied, match=r"'mallory' does not have USE SCHEMA on "
                           r"SCHEMA dev\.bronze \(needed to use TABLE dev\.bronze\.people\)"):
            forget(root, ENV, Subject.parse("customer_id=42"), dry_run=dry_run,
                   principal="mallory")
    assert remaining(root) == before
