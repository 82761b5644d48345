"""A new day can give the training set (and the tables it is built from) new Delta versions
without changing one row: training on that content again registers nothing unless forced
(issue 11 item 7, stranger11 finding 6: v1, v2, v3 of churn had one `training_set_sha256`)."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.reproduce_hash import TAG
from lakehouse_ml.ml.candidate import Candidate, data_versions, train_if_new
from lakehouse_ml.ml.deploy import record_gates
from lakehouse_ml.ml.gates import run_gates
from lakehouse_ml.ml.registry import CHAMPION, alias_version
from lakehouse_ml.ml.retraining import AlreadyTrained
from tests.test_boundaries_ml import SPEC
from tests.test_idempotent_reruns import NAME, model_store, through_gates, versions


def runs(client: MlflowClient) -> int:
    """Every MLflow run of every experiment in the store."""
    ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(ids))


def same_rows_new_version(catalog: Catalog) -> None:
    """Rewrite the training set with its own rows in another order: a new Delta version, the
    same content."""
    table = SPEC.training_set.name
    before = catalog.version(table)
    catalog.overwrite(table, catalog.read(table).reverse())
    assert catalog.version(table) == before + 1


def test_same_training_set_content_as_the_champion_registers_nothing_unless_forced(
    tmp_path: Path,
) -> None:
    catalog, client = model_store(tmp_path)
    first = train_if_new(catalog, client, SPEC)
    assert isinstance(first, Candidate)
    through_gates(catalog, client, first)
    assert alias_version(client, NAME, CHAMPION) == 1
    sha256 = client.get_model_version(NAME, "1").tags[TAG]
    logged = runs(client)
    same_rows_new_version(catalog)
    assert data_versions(catalog, SPEC) != first.data_versions

    second = train_if_new(catalog, client, SPEC)

    assert isinstance(second, AlreadyTrained)
    assert (second.version, second.state, second.training_set_sha256) == (1, CHAMPION, sha256)
    assert second.data_versions == data_versions(catalog, SPEC)
    assert "version 1 (champion)" in second.message and sha256 in second.message
    assert "--force" in second.message
    assert versions(client) == [1] and runs(client) == logged  # nothing fitted nor logged

    forced = train_if_new(catalog, client, SPEC, force=True)

    assert isinstance(forced, Candidate) and versions(client) == [1, 2]
    assert client.get_model_version(NAME, "2").tags[TAG] == sha256


def test_same_content_as_a_judged_version_or_one_being_validated_is_not_trained_again(
    tmp_path: Path,
) -> None:
    catalog, client = model_store(tmp_path)
    through_gates(catalog, client, train_if_new(catalog, client, SPEC))
    same_rows_new_version(catalog)
    second = train_if_new(catalog, client, SPEC, force=True, run_id="run-2")
    assert isinstance(second, Candidate) and second.version == 2
    same_rows_new_version(catalog)

    # version 2 is being validated by a live run: it counts, the champion comes first
    assert train_if_new(catalog, client, SPEC, alive=lambda run: run == "run-2").version == 1
    client.delete_registered_model_alias(NAME, CHAMPION)
    being = train_if_new(catalog, client, SPEC, alive=lambda run: run == "run-2")
    assert isinstance(being, AlreadyTrained) and being.version == 2
    assert being.state == "validation in progress in run run-2"
    assert being.training_set_sha256 == client.get_model_version(NAME, "2").tags[TAG]

    record_gates(catalog, client, SPEC.schema, NAME, 2, second.run_id,
                 run_gates(client, SPEC, second))
    judged = train_if_new(catalog, client, SPEC)
    assert isinstance(judged, AlreadyTrained) and judged.version == 2
    assert judged.state.startswith("validation ") and versions(client) == [1, 2]


def test_new_rows_train_a_new_version(tmp_path: Path) -> None:
    catalog, client = model_store(tmp_path)
    through_gates(catalog, client, train_if_new(catalog, client, SPEC))
    table = SPEC.training_set.name
    catalog.overwrite(table, catalog.read(table).head(-1))  # one label row fewer

    retrained = train_if_new(catalog, client, SPEC)

    assert isinstance(retrained, Candidate) and versions(client) == [1, 2]
    assert (client.get_model_version(NAME, "2").tags[TAG]
            != client.get_model_version(NAME, "1").tags[TAG])
