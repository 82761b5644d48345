"""`lakehouse-ml catalog ls|describe|privileges`, `sql`, `policy apply` on a real lakehouse."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lakehouse_ml.cli import app
from lakehouse_ml.governance import Metastore
from tests.governance.test_policy import CHURN, PROJECT

runner = CliRunner()


@pytest.fixture
def cli(metastore: Metastore, monkeypatch: pytest.MonkeyPatch) -> Metastore:
    monkeypatch.setenv("LAKEHOUSE_ROOT", metastore.root)
    monkeypatch.setenv("LAKEHOUSE_ENV", "dev")
    monkeypatch.delenv("LAKEHOUSE_PRINCIPAL", raising=False)
    return metastore


def test_ls_and_describe(cli: Metastore) -> None:
    top = runner.invoke(app, ["catalog", "ls", "--json"])
    assert top.exit_code == 0, top.output
    assert [r["name"] for r in json.loads(top.output)] == ["dev"]
    tables = json.loads(runner.invoke(app, ["catalog", "ls", "dev.silver", "--json"]).output)
    assert [(r["type"], r["name"], r["owner"]) for r in tables] == [
        ("TABLE", "dev.silver.customers", "data-eng"), ("TABLE", "dev.silver.events", "data-eng")]
    described = runner.invoke(app, ["catalog", "describe", "dev.silver.customers"])
    assert described.exit_code == 0, described.output
    doc = json.loads(described.output)
    assert (doc["owner"], doc["column_tags"]) == ("data-eng", {"email": {"pii": ""}})


@pytest.mark.parametrize(("args", "message", "code"), [
    (["catalog", "describe", "dev.silver.nope"], "no table or model or function named "
     "dev.silver.nope", 1),
    (["catalog", "ls", "a.b.c.d"], "invalid securable name 'a.b.c.d'", 2),
    (["sql", "GRANT SELECT ON TABL x TO ann"], "expected TO at 'x'", 2),
    (["sql", "GRANT SELECT ON TABLE silver.customers TO carol"],
     "principal 'carol' does not exist", 1),
    (["sql", "--as", "bob", "GRANT SELECT ON TABLE silver.customers TO ann"],
     "permission denied: 'bob' does not have MANAGE on TABLE dev.silver.customers", 1),
    # an empty identity is refused, not taken for the OS user (a metastore admin)
    (["sql", "--as", "", "GRANT SELECT ON TABLE silver.customers TO ann"],
     "an empty principal name", 2),
    (["catalog", "ls", "--as", " "], "an empty principal name", 2),
])
def test_errors_are_one_line(cli: Metastore, args: list[str], message: str, code: int) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert message in result.output and result.output.count("\n") == 1


def test_sql_grant_show_revoke_and_privileges(cli: Metastore,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for statement in ("GRANT USE CATALOG ON CATALOG dev TO `analysts`",
                      "GRANT USE SCHEMA, SELECT ON SCHEMA dev.silver TO `analysts`"):
        assert runner.invoke(app, ["sql", statement]).exit_code == 0
    shown = runner.invoke(app, ["sql", "--json", "SHOW GRANTS ON TABLE dev.silver.customers"])
    assert {(r["principal"], r["action_type"]) for r in json.loads(shown.output)} == {
        ("analysts", "USE CATALOG"), ("analysts", "USE SCHEMA"), ("analysts", "SELECT")}
    monkeypatch.setenv("LAKEHOUSE_PRINCIPAL", "ann")
    mine = runner.invoke(app, ["catalog", "privileges", "dev.silver.customers", "--json"])
    assert json.loads(mine.output) == [{"privilege": "SELECT", "securable": "SCHEMA dev.silver",
                                        "grantee": "analysts", "via": "grant"}]
    refused = runner.invoke(app, ["sql", "REVOKE SELECT ON SCHEMA dev.silver FROM analysts"])
    assert refused.exit_code == 1 and "'ann' does not have MANAGE" in refused.output
    done = runner.invoke(app, ["sql", "--as", cli.store.default_admin,
                               "REVOKE SELECT ON SCHEMA dev.silver FROM analysts"])
    assert done.exit_code == 0, done.output
    hidden = runner.invoke(app, ["catalog", "privileges", "dev.silver.customers", "--json"])
    assert hidden.exit_code == 1  # no privilege on it left: ann may no longer see it
    assert "'ann' does not have BROWSE on dev.silver.customers" in hidden.output


def test_policy_apply(cli: Metastore) -> None:
    project = runner.invoke(app, ["policy", "apply", str(PROJECT)])  # the project's first
    assert project.exit_code == 0, project.output
    first = runner.invoke(app, ["policy", "apply", str(CHURN)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["policy", "apply", str(CHURN)])
    assert again.output.split("version")[1] == first.output.split("version")[1]
    assert "dev.churn" in runner.invoke(app, ["catalog", "ls", "dev"]).output
