"""Erasure from MLflow artifacts (issue 14 item 5): the input examples of registered versions
and the tables their runs logged, rewritten without the subject on a real MLflow store; the
rewritten version still loads verified, the others are untouched, tampering is still caught,
and an erasure killed before the digests were recorded is finished by the next one."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import lakehouse_ml.governance.erasure_files_artifacts as artifacts
from lakehouse_ml.domains.churn.training import TRAINING_SET
from lakehouse_ml.governance.erasure_files import erase_model_artifacts
from lakehouse_ml.governance.erasure_files_artifacts import PENDING_TAG
from lakehouse_ml.governance.erasure_places import Subject
from lakehouse_ml.ml.artifacts import DIGEST_TAG, ModelArtifactError
from lakehouse_ml.ml.packaging import load_packaged, log_packaged
from lakehouse_ml.ml.registry import use_experiment, use_tracking

NAME = "dev.churn.churn_clf"
SUBJECT = Subject("customer_id", "90017")
FEATURES = ["customer_id", "tenure_days"]


def example(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "tenure_days": [float(i % 97) for i in ids]})


def register(client: MlflowClient, ids: list[int], table: pd.DataFrame | None = None) -> int:
    frame = example(ids)
    pipeline = Pipeline([("m", LogisticRegression())]).fit(example([1, 2, 3, 4]),
                                                           np.array([0, 1, 0, 1]))
    with mlflow.start_run():
        if table is not None:
            mlflow.log_table(table, "tables/sample.json")
        return log_packaged(client, pipeline, NAME, TRAINING_SET, FEATURES, frame, ["skops"])


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, MlflowClient]:
    """A lakehouse root and its own MLflow store beside it (as `Settings` places it)."""
    client = use_tracking(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    use_experiment(client, "/dev/churn/churn_clf")
    return tmp_path / "lakehouse", client


def files_of(client: MlflowClient, version: int) -> dict[str, bytes]:
    folder = Path(client.get_model_version_download_uri(NAME, str(version)).removeprefix(
        "file://"))
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_files(client: MlflowClient, version: int) -> dict[str, bytes]:
    run = client.get_model_version(NAME, str(version)).run_id
    folder = Path(client.get_run(run).info.artifact_uri.removeprefix("file://"))
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_subject_leaves_the_input_examples_and_logged_tables_and_the_version_loads(
    store: tuple[Path, MlflowClient],
) -> None:
    root, client = store
    held = register(client, [9001, 90017, 91017], table=example([90017, 17, 90017]))
    other = register(client, [9001, 17, 91017])
    with mlflow.start_run() as evaluation:  # a run of the environment's experiment
        mlflow.log_table(example([90017, 5]), "eval/rows.json")
    use_experiment(client, "/prod/churn/churn_clf")
    with mlflow.start_run() as prod:  # another environment's: not this erasure's
        mlflow.log_table(example([90017, 5]), "eval/rows.json")
    prod_table = Path(client.get_run(prod.info.run_id).info.artifact_uri.removeprefix(
        "file://"), "eval/rows.json").read_bytes()
    other_files, other_tag = files_of(client, other), client.get_model_version(
        NAME, str(other)).tags[DIGEST_TAG]
    places = erase_model_artifacts(root, "dev", SUBJECT, dry_run=False)
    assert sorted((p.name, p.rows) for p in places) == sorted([
        (f"models:/{NAME}/{held}/input_example.json", 1),
        (f"models:/{NAME}/{held}/serving_input_example.json", 1),
        (f"runs:/{client.get_model_version(NAME, str(held)).run_id}/tables/sample.json", 2),
        (f"runs:/{evaluation.info.run_id}/eval/rows.json", 1),
    ])
    assert Path(client.get_run(prod.info.run_id).info.artifact_uri.removeprefix("file://"),
                "eval/rows.json").read_bytes() == prod_table
    for data in [*files_of(client, held).values(), *run_files(client, held).values()]:
        assert b"90017" not in data
    packaged = load_packaged(f"models:/{NAME}/{held}")  # verified against the new digests
    assert packaged.input_example["customer_id"].tolist() == [9001, 91017]
    table = json.loads(run_files(client, held)["tables/sample.json"])
    assert table["data"] == [[17, 17.0]]
    assert files_of(client, other) == other_files
    assert client.get_model_version(NAME, str(other)).tags[DIGEST_TAG] == other_tag
    assert PENDING_TAG not in client.get_model_version(NAME, str(held)).tags


def test_a_dry_run_writes_nothing_and_names_the_same_places(
    store: tuple[Path, MlflowClient],
) -> None:
    root, client = store
    held = register(client, [90017, 9001], table=example([90017]))
    before = (files_of(client, held), run_files(client, held),
              client.get_model_version(NAME, str(held)).tags)
    planned = erase_model_artifacts(root, "dev", SUBJECT, dry_run=True)
    assert (files_of(client, held), run_files(client, held),
            client.get_model_version(NAME, str(held)).tags) == before
    assert all(p.bytes_rewritten == 0 for p in planned) and len(planned) == 3
    done = erase_model_artifacts(root, "dev", SUBJECT, dry_run=True)
    assert done == planned
    done = erase_model_artifacts(root, "dev", SUBJECT, dry_run=False)
    assert [(p.name, p.rows) for p in done] == [(p.name, p.rows) for p in planned]
    assert erase_model_artifacts(root, "dev", SUBJECT, dry_run=False) == []


def test_a_tampered_version_is_erased_all_the_same_and_keeps_refusing_to_load(
    store: tuple[Path, MlflowClient],
) -> None:
    root, client = store
    held = register(client, [90017, 9001])
    folder = Path(client.get_model_version_download_uri(NAME, str(held)).removeprefix("file://"))
    (folder / "requirements.txt").write_text("evil==1.0\n")
    places = erase_model_artifacts(root, "dev", SUBJECT, dry_run=False)
    assert {p.name for p in places} == {f"models:/{NAME}/{held}/input_example.json",
                                        f"models:/{NAME}/{held}/serving_input_example.json"}
    assert all("requirements.txt" in p.problem for p in places)
    assert not any(b"90017" in data for data in files_of(client, held).values())
    with pytest.raises(ModelArtifactError, match="refusing to load"):
        load_packaged(f"models:/{NAME}/{held}")
    assert PENDING_TAG not in client.get_model_version(NAME, str(held)).tags


def test_tampering_is_still_caught_after_an_erasure(store: tuple[Path, MlflowClient]) -> None:
    root, client = store
    held = register(client, [90017, 9001])
    erase_model_artifacts(root, "dev", SUBJECT, dry_run=False)
    folder = Path(client.get_model_version_download_uri(NAME, str(held)).removeprefix("file://"))
    (folder / "requirements.txt").write_text("evil==1.0\n")
    with pytest.raises(ModelArtifactError, match="requirements.txt"):
        load_packaged(f"models:/{NAME}/{held}")


def test_an_erasure_killed_before_the_digests_is_finished_by_the_next(
    store: tuple[Path, MlflowClient], monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, client = store
    held = register(client, [90017, 9001])
    with monkeypatch.context() as patch:
        patch.setattr(artifacts, "rerecord_digests", killed)
        with pytest.raises(KeyboardInterrupt):
            erase_model_artifacts(root, "dev", SUBJECT, dry_run=False)
    assert PENDING_TAG in client.get_model_version(NAME, str(held)).tags
    with pytest.raises(ModelArtifactError, match="input_example.json"):
        load_packaged(f"models:/{NAME}/{held}")  # fails closed meanwhile
    places = erase_model_artifacts(root, "dev", SUBJECT, dry_run=False)
    assert [p.name for p in places if p.problem] == [f"models:/{NAME}/{held}"]
    assert "interrupted" in places[0].problem
    assert load_packaged(f"models:/{NAME}/{held}").input_example["customer_id"].tolist() == [
        9001]
    assert PENDING_TAG not in client.get_model_version(NAME, str(held)).tags


def killed(*args: object) -> None:
    raise KeyboardInterrupt


def test_without_a_tracking_uri_the_store_beside_the_lakehouse_is_used_never_created(
    store: tuple[Path, MlflowClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, client = store
    held = register(client, [90017])
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # set_tracking_uri exports it
    elsewhere = tmp_path / "elsewhere" / "lakehouse"
    assert erase_model_artifacts(elsewhere, "dev", SUBJECT, dry_run=True) == []
    assert not elsewhere.parent.exists()
    assert [p.name for p in erase_model_artifacts(root, "dev", SUBJECT, dry_run=True)][0] == (
        f"models:/{NAME}/{held}/input_example.json")
