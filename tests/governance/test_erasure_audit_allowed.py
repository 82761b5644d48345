"""Every allowed privilege check of a real erasure (issue 14) is one audit record, as Unity
Catalog's `system.access.audit` records every governed action allowed or denied: MODIFY on each
table holding the subject, on the schema a never-ingested landed file's manifest would be
created in, MANAGE on the model whose version's artifacts are rewritten and on the model whose
version is tagged `needs_retraining`, MANAGE on the catalog for a run no model governs; each
names principal, securable, securable type, privilege and action, and is written only once
every check has passed (a denial anywhere is its one 403 record and nothing else); a dry run
records no allowed check. On the lakehouse, landed file and MLflow store of
`test_erasure_artifacts_privilege` (real Delta tables, a real MLflow sqlite store, the audit
log read back from its table)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features.online.codec import encode
from lakehouse_ml.features.online.publish import publish
from lakehouse_ml.features.online.store import default_store
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.erasure import forget
from lakehouse_ml.governance.erasure_files import erase_model_artifacts
from lakehouse_ml.governance.erasure_models import NEEDS_RETRAINING
from lakehouse_ml.governance.erasure_places import Subject
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.ml.registry import use_experiment, use_tracking
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from tests.conftest import close_writers
from tests.governance.audit_support import params
from tests.governance.test_erasure_artifacts_privilege import LANDED, built
from tests.governance.test_erasure_attack import ENV, remaining
from tests.governance.test_erasure_files_artifacts import (  # noqa: F401 - store: a fixture
    NAME,
    example,
    register,
    store,
)
from tests.governance.test_erasure_schema_check import by
from tests.test_ingest_landing import CUSTOMER_HEADER, customer

SUBJECT = Subject.parse("customer_id=42")
TABLE = ("TABLE", "MODIFY", "generateTemporaryTableCredential", "READ_WRITE")
TABLES = [(f"{ENV}.{t}", *TABLE) for t in ("bronze.people", "ops.requests", "silver.people")]
LANDED_SCHEMA = (f"{ENV}.bronze", "SCHEMA", "MODIFY", "generateTemporaryVolumeCredential",
                 "WRITE_VOLUME")
ARTIFACTS = (NAME, "MODEL", "MANAGE", "generateTemporaryModelVersionCredential",
             "READ_WRITE_MODEL_VERSION")
TAGGED = (NAME, "MODEL", "MANAGE", "setModelVersionTag", None)
RUN = (ENV, "CATALOG", "MANAGE", "writeArtifact", None)


def allowed(metastore: Metastore, principal: str = "mallory") -> list[tuple]:
    """`principal`'s records of an erasure's allowed checks (method `forget`, 200), sorted:
    (securable, securable type, privilege, action, operation)."""
    found = [params(r) | {"action": r["action"]} for r in by(metastore, principal)
             if r["status"] == 200 and params(r).get("method") == "forget"]
    return sorted((p["securable"], p.get("securable_type"), p.get("privilege"), p["action"],
                   p.get("operation")) for p in found)


def denials(metastore: Metastore, principal: str = "mallory") -> list[tuple]:
    return [(r["action"], r["status"], params(r)["securable"]) for r in by(metastore, principal)
            if r["status"] != 200]


def setup(tmp_path: Path, *, tagged: bool = False, run: bool = False
          ) -> tuple[dict[str, str], int, Metastore]:
    """`built`'s lakehouse (customer 42 in three tables, a landed file never ingested, version 1
    of the churn model whose artifacts hold 42); `tagged`: the version's pin of its training set
    is gone, so it counts as trained on 42 and is tagged; `run`: a run of `/dev/evaluations`
    (named for no model) logged a table holding 42."""
    env, version = built(tmp_path)
    client = use_tracking(env["MLFLOW_TRACKING_URI"])
    if tagged:
        client.delete_model_version_tag(NAME, str(version), DATA_VERSIONS)
    if run:
        use_experiment(client, f"/{ENV}/evaluations")
        with mlflow.start_run():
            mlflow.log_table(example([42, 5]), "eval/rows.json")
    close_writers()
    return env, version, Metastore(env["LAKEHOUSE_ROOT"], ENV)


def erase(env: dict[str, str], *, dry_run: bool = False) -> None:
    forget(env["LAKEHOUSE_ROOT"], ENV, SUBJECT, dry_run=dry_run, principal="mallory",
           landing=env["LAKEHOUSE_LANDING"], tracking_uri=env["MLFLOW_TRACKING_URI"])


def test_a_real_forget_records_each_allowed_check_once(tmp_path: Path) -> None:
    """Tables, the landed file's schema, the model's artifacts, its version to tag and a run no
    model governs: one record each (the model's artifacts and the run of its experiment are
    one check of the model; the tag another), nothing else."""
    env, version, metastore = setup(tmp_path, tagged=True, run=True)
    metastore.grant(["MANAGE"], "MODEL", NAME, "mallory")
    metastore.grant(["MANAGE"], "CATALOG", ENV, "mallory")

    erase(env)

    assert remaining(env["LAKEHOUSE_ROOT"])["silver"] == [7, 420, 4200]
    assert (tmp_path / "landing" / LANDED).read_text() == f"{CUSTOMER_HEADER}\n{customer(7)}\n"
    client = use_tracking(env["MLFLOW_TRACKING_URI"])
    assert NEEDS_RETRAINING in client.get_model_version(NAME, str(version)).tags
    assert allowed(metastore) == sorted([*TABLES, LANDED_SCHEMA, ARTIFACTS, TAGGED, RUN])
    assert denials(metastore) == []


def test_a_dry_run_records_no_allowed_check_and_the_real_run_each_once(
        tmp_path: Path) -> None:
    env, _, metastore = setup(tmp_path)
    metastore.grant(["MANAGE"], "MODEL", NAME, "mallory")

    erase(env, dry_run=True)
    assert by(metastore, "mallory") == []
    assert "42" in remaining(env["LAKEHOUSE_ROOT"])["bronze"]

    erase(env)
    assert allowed(metastore) == sorted([*TABLES, LANDED_SCHEMA, ARTIFACTS])


def test_a_table_held_offline_and_in_an_online_store_is_one_record(tmp_path: Path) -> None:
    """silver.people holds 42 and is published to the online store: MODIFY on it is checked
    for both places, and allowed, recorded once."""
    env, _, metastore = setup(tmp_path)
    metastore.grant(["MANAGE"], "MODEL", NAME, "mallory")
    root, table = env["LAKEHOUSE_ROOT"], f"{ENV}.silver.people"
    catalog = Catalog(root, ENV)
    rows = catalog.read(table)
    key = encode(rows.filter(pl.col("customer_id") == 42), ["customer_id"]).to_list()
    online = default_store(root, ENV)
    try:
        publish(online, table, ["customer_id"], None, catalog.version(table), lambda v, t: rows)
        assert online.read(table, key)[1] != [None]
    finally:
        online.close()

    erase(env)

    online = default_store(root, ENV)
    try:
        assert online.read(table, key)[1] == [None]
    finally:
        online.close()
    assert allowed(metastore) == sorted([*TABLES, LANDED_SCHEMA, ARTIFACTS])


def test_a_denial_is_its_one_403_record_and_no_allowed_check_is_recorded(
        tmp_path: Path) -> None:
    """Denied on the model (after every table and the landed file's schema were allowed):
    one 403 and nothing else. Given MANAGE on the model but not on the catalog a run no model
    governs needs: the model's allowed check leaves no record either, only the catalog's 403.
    Given both, each allowed check is one record."""
    env, _, metastore = setup(tmp_path, run=True)
    with pytest.raises(PermissionDenied, match=f"does not have MANAGE on MODEL {NAME}"):
        erase(env)
    assert [(r["action"], r["status"], params(r)["securable"])
            for r in by(metastore, "mallory")] == [("checkPermission", 403, f"MODEL {NAME}")]

    metastore.grant(["MANAGE"], "MODEL", NAME, "mallory")
    with pytest.raises(PermissionDenied, match=f"does not have MANAGE on CATALOG {ENV}"):
        erase(env)
    assert allowed(metastore) == []
    assert denials(metastore) == [("checkPermission", 403, f"MODEL {NAME}"),
                                  ("checkPermission", 403, f"CATALOG {ENV}")]
    assert "42" in remaining(env["LAKEHOUSE_ROOT"])["bronze"]

    metastore.grant(["MANAGE"], "CATALOG", ENV, "mallory")
    erase(env)
    assert allowed(metastore) == sorted([*TABLES, LANDED_SCHEMA, ARTIFACTS, RUN])


def test_erase_model_artifacts_records_its_allowed_check_in_a_real_run_only(
        store: tuple[Path, MlflowClient]) -> None:  # noqa: F811
    root, client = store
    register(client, [9001, 90017])
    metastore = Metastore(str(root), ENV)
    metastore.add_principal("ann")
    metastore.grant(["USE CATALOG"], "CATALOG", ENV, "ann")
    metastore.create("SCHEMA", "churn")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "churn", "ann")
    metastore.create("MODEL", NAME)
    metastore.grant(["MANAGE"], "MODEL", NAME, "ann")
    subject = Subject("customer_id", "90017")

    assert erase_model_artifacts(root, ENV, subject, dry_run=True, principal="ann")
    assert by(metastore, "ann") == []
    assert erase_model_artifacts(root, ENV, subject, dry_run=False, principal="ann")
    assert allowed(metastore, "ann") == [ARTIFACTS]
