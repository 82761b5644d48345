"""A governed call on a registered model decides the privilege before anything tells whether the
model, an alias or a version exists: loading (`check_model`, EXECUTE), changing
(`check_model_owner`, MANAGE: aliases, rollback, new versions), reading a version
(`see_model`, EXECUTE: `reproduce`) deny a model the metastore declares and one it does not
alike (one 403 `checkPermission` record each, naming the model asked for); and `lakehouse-ml
reproduce MODEL@ALIAS` and `score_batch('models:/NAME@ALIAS')` deny an existing alias, a
missing one and a missing version or model alike before they ask the registry. Real Delta
tables, metastore, audit log and MLflow sqlite store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import access
from lakehouse_ml.cli import app
from lakehouse_ml.domains.churn.model import MODEL as CHURN
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.ml.artifacts import ModelArtifactError
from tests.governance.audit_support import params, records

DECLARED, UNDECLARED = "dev.silver.clf", "dev.silver.other"
USE = [("USE CATALOG", "CATALOG", "dev"), ("USE SCHEMA", "SCHEMA", "silver")]


def _bob(metastore: Metastore, grants: list[tuple[str, str, str]]) -> Catalog:
    Catalog(metastore.root, "dev").register_model(DECLARED)  # the admin owns it
    for privilege, kind, name in grants:
        metastore.grant([privilege], kind, name, "bob")
    return Catalog(metastore.root, "dev", principal="bob")


def _denial(metastore: Metastore, call: Callable[[], Any], name: str) -> tuple[str, str]:
    """The denial's text and its one record's securable, `name` masked."""
    before = records(metastore).height
    with pytest.raises(PermissionDenied) as denied:
        call()
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["user"], r["action"], r["status"]) for r in rows] == [
        ("bob", "checkPermission", 403)], rows
    return (str(denied.value).replace(name, "<model>"),
            params(rows[0])["securable"].replace(name, "<model>"))


@pytest.mark.parametrize("grants", [[], USE[:1], USE])
@pytest.mark.parametrize("method", ["check_model", "check_model_owner", "see_model"])
def test_a_declared_and_an_undeclared_model_are_denied_alike(
        metastore: Metastore, grants: list[tuple[str, str, str]], method: str) -> None:
    bob = _bob(metastore, grants)
    said = [_denial(metastore, lambda n=name: getattr(bob, method)(n), name)
            for name in (DECLARED, UNDECLARED)]
    assert said[0] == said[1], said
    if grants == USE:  # what is missing is the privilege on the model itself
        assert said[0][1] == "MODEL <model>", said


def test_an_undeclared_model_is_still_decided_on_its_closest_declared_container(
        metastore: Metastore) -> None:
    """EXECUTE on the schema reaches a model the metastore does not declare: allowed, and
    decided on the schema (what `Allowed` records name); a name in a catalog nothing declares
    stays a denial, to the admin too (fail closed), said only to one who would hold it."""
    bob = _bob(metastore, [*USE, ("EXECUTE", "SCHEMA", "silver")])
    assert bob.see_model(UNDECLARED) == UNDECLARED
    bob.check_model(UNDECLARED)
    checks = access(metastore.root, "dev")
    assert checks.check_within("bob", "EXECUTE", "MODEL", UNDECLARED) == ("SCHEMA",
                                                                          "dev.silver")
    assert checks.check_within("bob", "EXECUTE", "MODEL", DECLARED) == ("MODEL", DECLARED)
    with pytest.raises(PermissionDenied, match="neither it nor a container taking it"):
        Catalog(metastore.root, "dev").check_model("other.silver.clf")
    with pytest.raises(PermissionDenied, match="'bob' does not have USE CATALOG on CATALOG "
                       "other"):
        bob.check_model("other.silver.clf")


@pytest.fixture
def churn_registry(tmp_path: Path) -> str:
    """An MLflow store holding the churn model's version 1 with alias `champion`."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    name = CHURN.registered_name("dev")
    client.create_registered_model(name)
    client.create_model_version(name, source=str(tmp_path / "artifacts"))
    client.set_registered_model_alias(name, "champion", "1")
    return uri


def test_reproduce_denies_before_it_resolves_the_alias_or_version(
        metastore: Metastore, churn_registry: str, tmp_path: Path) -> None:
    """bob without EXECUTE on the churn model: `reproduce` of its champion, of an alias it
    does not have and of a version it does not have are one and the same denial (exit 1,
    one line); the admin is told the alias is unknown."""
    env = {"LAKEHOUSE_ROOT": metastore.root, "LAKEHOUSE_ENV": "dev",
           "LAKEHOUSE_LANDING": str(tmp_path / "landing"),
           "MLFLOW_TRACKING_URI": churn_registry}
    runner = CliRunner(env=env)
    said = set()
    for subject in ("churn_clf@champion", "churn_clf@nope", "churn_clf/99"):
        result = runner.invoke(app, ["reproduce", subject, "--as", "bob"])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        said.add(result.output)
    assert len(said) == 1 and "permission denied: 'bob'" in said.pop()
    result = runner.invoke(app, ["reproduce", "churn_clf@nope"])
    assert result.exit_code == 1 and "has no alias 'nope'" in result.output, result.output


def test_score_batch_denies_before_it_resolves_the_alias(
        metastore: Metastore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bob with USE only: scoring with an existing alias, a missing alias and a missing
    model's alias are the same denial (one 403 record each); the admin is told the alias is
    unknown (the registry's answer)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model(DECLARED)
    client.create_model_version(DECLARED, source=str(tmp_path / "artifacts"))
    client.set_registered_model_alias(DECLARED, "champion", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    bob = FeatureEngineeringClient(_bob(metastore, USE))
    rows = pl.DataFrame({"id": [1]})
    said = {_denial(metastore, lambda u=f"models:/{name}@{alias}": bob.score_batch(u, rows),
                    name)
            for name, alias in ((DECLARED, "champion"), (DECLARED, "nope"), (UNDECLARED,
                                                                                "champion"))}
    assert said == {("permission denied: 'bob' does not have EXECUTE on MODEL <model>",
                     "MODEL <model>")}, said
    admin = FeatureEngineeringClient(Catalog(metastore.root, "dev"))
    with pytest.raises(ModelArtifactError, match="no version has alias 'nope'"):
        admin.score_batch(f"models:/{DECLARED}@nope", rows)
