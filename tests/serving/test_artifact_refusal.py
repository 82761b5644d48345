"""A champion whose artifact files changed after registration is never served: a running
server keeps serving the previous version and says why; a starting one refuses to start."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import pytest
from mlflow import MlflowClient

from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.artifacts import ModelArtifactError
from lakehouse_ml.ml.packaging import load_packaged, log_packaged
from lakehouse_ml.ml.registry import CHAMPION, model_uri, use_experiment, use_tracking
from lakehouse_ml.serving.server import uvicorn_server
from tests.serving.conftest import INVOCATIONS, auth, config, running

NAME = MODEL.registered_name("dev")


def _files(client: MlflowClient, version: int) -> Path:
    return Path(urlparse(client.get_model_version_download_uri(NAME, str(version))).path)


def _tampered_copy_of_version_1(client: MlflowClient) -> int:
    """Version 1 registered again (its own files), then its model.skops swapped for
    version 2's: the version-1 scores served as the new version, unless refused."""
    packaged = load_packaged(model_uri(NAME, 1))
    use_experiment(client, "/dev/churn/tampered")
    with mlflow.start_run():
        version = log_packaged(client, packaged.pipeline, NAME, packaged.training_set,
                               packaged.features, packaged.input_example, ["scikit-learn"])
    shutil.copy(_files(client, 2) / "model.skops", _files(client, version) / "model.skops")
    return version


def test_a_tampered_champion_is_refused_and_the_previous_one_keeps_serving(
    registry_copy: Settings, token: str, customers: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    client = use_tracking(registry_copy.mlflow_tracking_uri)
    tampered = _tampered_copy_of_version_1(client)
    body = {"dataframe_records": [{"customer_id": k} for k in customers[:3]]}

    with caplog.at_level(logging.WARNING), running(
            config(registry_copy, challenger_share=0.0)) as server:
        before = server.post(INVOCATIONS, json=body, headers=auth(token)).json()
        client.set_registered_model_alias(NAME, CHAMPION, str(tampered))
        deadline = time.monotonic() + 10
        while "model.skops" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        after = server.post(INVOCATIONS, json=body, headers=auth(token))
        health = server.get("/health").json()["endpoints"]["churn_clf"]

    assert f"{NAME} version {tampered}: artifact file 'model.skops'" in caplog.text
    assert "still serving versions (1," in caplog.text
    assert after.status_code == 200
    assert after.json()["predictions"] == before["predictions"]
    assert after.json()["model_versions"] == [1, 1, 1]
    assert before["model_versions"] == [1, 1, 1] and health["champion"] == 1
    with pytest.raises(ModelArtifactError, match=f"version {tampered}: artifact file"):
        uvicorn_server(config(registry_copy), "127.0.0.1", 0)  # a new server does not start
