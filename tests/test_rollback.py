"""Rollback goes back through the alias history: twice never re-promotes the version just
rolled back, `--to-version N` refuses a version that does not exist or failed validation
(issue 11 item 7)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.ml.candidate import Candidate
from lakehouse_ml.ml.deploy import NothingToRollBack, deploy, rollback
from lakehouse_ml.ml.registry import CHAMPION, PREVIOUS, alias_version
from lakehouse_ml.ml.retraining import VALIDATION_STATUS
from tests.test_boundaries_ml import lifecycle  # noqa: F401 (a fixture: one trained version)


def registered(client: MlflowClient, candidate: Candidate, model: str,
               statuses: list[str], catalog: Catalog, champions: tuple[int, ...]) -> None:
    """Versions 1.. of `model` (one per status, all of the candidate's artifact), each tagged
    with its validation status as the gates tag it; then each of `champions` deployed as
    champion in turn (in `catalog`'s environment)."""
    first = client.get_model_version(candidate.model, str(candidate.version))
    client.create_registered_model(model)
    for status in statuses:
        version = client.create_model_version(model, first.source, run_id=first.run_id).version
        client.set_model_version_tag(model, version, VALIDATION_STATUS, status)
    for version in champions:
        deploy(catalog, client, "churn", model, version, True, actor="t")


def test_rolling_back_twice_goes_further_back_never_to_the_version_rolled_back(
    lifecycle: tuple[MlflowClient, Catalog, Candidate],  # noqa: F811
) -> None:
    client, catalog, candidate = lifecycle
    model = "dev.churn.twice"
    registered(client, candidate, model, ["passed"] * 4, catalog, (1, 2, 3))

    assert rollback(catalog, client, "churn", model, actor="t", reason="one") == 2
    assert rollback(catalog, client, "churn", model, actor="t", reason="two") == 1
    assert alias_version(client, model, PREVIOUS) == 2
    with pytest.raises(NothingToRollBack, match="no earlier champion"):
        rollback(catalog, client, "churn", model, actor="t", reason="three")

    deploy(catalog, client, "churn", model, 4, True, actor="t")  # a new champion after all
    assert rollback(catalog, client, "churn", model, actor="t", reason="four") == 1
    assert alias_version(client, model, CHAMPION) == 1


def test_rollback_skips_an_earlier_champion_that_is_no_longer_validated(
    lifecycle: tuple[MlflowClient, Catalog, Candidate],  # noqa: F811
) -> None:
    client, catalog, candidate = lifecycle
    model = "dev.churn.skips"
    registered(client, candidate, model, ["passed"] * 3, catalog, (1, 2, 3))
    client.set_model_version_tag(model, "2", VALIDATION_STATUS, "failed")  # re-judged

    assert rollback(catalog, client, "churn", model, actor="t", reason="bad") == 1


def test_cli_rollback_to_version_refuses_missing_and_failed_versions_in_one_line(
    lifecycle: tuple[MlflowClient, Catalog, Candidate],  # noqa: F811
) -> None:
    client, catalog, candidate = lifecycle
    model = "staging.churn.churn_clf"  # the CLI's model in its own catalog (environment)
    staging = Catalog(catalog.root, "staging")
    registered(client, candidate, model, ["passed", "failed", "passed", "passed"], staging,
               (1, 3, 4))
    env = {"LAKEHOUSE_ROOT": catalog.root, "LAKEHOUSE_ENV": "staging",
           "MLFLOW_TRACKING_URI": client.tracking_uri}

    def cli(*args: str):
        return CliRunner().invoke(app, ["rollback", "--reason", "drift", "--model", "churn_clf",
                                        *args], env=env)

    for version, why in (("2", "it has not passed validation (validation_status: failed)"),
                         ("9", "no such version is registered"),
                         ("4", "it is the champion already")):
        refused = cli("--to-version", version)
        assert refused.exit_code == 1, refused.output
        assert refused.output.count("\n") == 1 and refused.output.endswith(
            f" rollback: {model}: cannot roll back to version {version}: {why}\n")
    assert alias_version(client, model, CHAMPION) == 4

    rolled = cli("--to-version", "1")

    assert rolled.exit_code == 0, rolled.output
    assert rolled.output == f"{model}: champion is version 1 again\n"
    assert (alias_version(client, model, CHAMPION), alias_version(client, model, PREVIOUS)) == (
        1, 4)
    last = staging.read("churn.alias_changes").sort("changed_at").tail(2).to_dicts()
    assert [(c["alias"], c["from_version"], c["to_version"]) for c in last] == [
        (CHAMPION, 4, 1), (PREVIOUS, 3, 4)]
    assert last[0]["reason"] == "rollback: drift" and last[0]["actor"].startswith("cli:")
    # the plain rollback after it goes to 3 (4 was rolled back), never to 4
    again = cli()
    assert again.exit_code == 0 and alias_version(client, model, CHAMPION) == 3
