"""Model artifacts are data: skops with a trusted-type list fixed in the code, every file's
sha256 recorded at registration and verified before any load (serving, batch scoring, the
reload gate), the training set found among the declared domains, never imported by name."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import pytest
from mlflow import MlflowClient
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.ml.artifacts import DIGEST_TAG, TRUSTED_TYPES, ModelArtifactError, record_digests
from lakehouse_ml.ml.candidate import Candidate
from lakehouse_ml.ml.evaluate import Evaluation
from lakehouse_ml.ml.gates import beats_champion, reload_matches
from lakehouse_ml.ml.packaging import SPEC_KEY, feature_spec, load_packaged, log_packaged
from lakehouse_ml.ml.registry import CHAMPION, model_uri, use_experiment, use_tracking
from lakehouse_ml.ml.train import TrainedModel, build_pipeline
from lakehouse_ml.serving.deployment import Deployments
from lakehouse_ml.serving.model import load_model

SPEC = replace(MODEL, name="artifacts_test")
NAME = SPEC.registered_name("dev")
FEATURES = ["plan_tier", "country", "orders_30d", "tickets_30d"]


class Passthrough(BaseEstimator, TransformerMixin):
    """A harmless custom step: still a type nobody reviewed, so it must not load."""

    def fit(self, X, y=None):  # noqa: N803 - scikit-learn's argument names
        return self

    def transform(self, X):  # noqa: N803
        return X


def frame(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = 300
    x = pd.DataFrame({
        "plan_tier": rng.choice(["basic", "pro"], rows),
        "country": rng.choice(["DE", "FR", "US"], rows),
        "orders_30d": rng.poisson(3, rows).astype(float),
        "tickets_30d": rng.poisson(1, rows).astype(float),
    })
    y = ((x["tickets_30d"] - x["orders_30d"] / 3 + rng.normal(0, 1, rows)) > 0).astype(int)
    return x, y.to_numpy()


def fitted(seed: int) -> Pipeline:
    x, y = frame(seed)
    return build_pipeline(replace(SPEC, params={"max_iter": 20 + seed, "random_state": 0}),
                          FEATURES).fit(x, y)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store for the module (slow to create); each test registers its versions."""
    return f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"


@pytest.fixture
def client(store: str) -> MlflowClient:
    client = use_tracking(store)
    use_experiment(client, "/dev/churn/artifacts_test")
    return client


@pytest.fixture(scope="module")
def second(store: str) -> tuple[int, Pipeline]:
    """A version nobody tampers with, and the pipeline it was registered from."""
    client = use_tracking(store)
    use_experiment(client, "/dev/churn/artifacts_test")
    pipeline = fitted(2)
    return register(client, pipeline), pipeline


def register(client: MlflowClient, pipeline: Pipeline) -> int:
    with mlflow.start_run():
        return log_packaged(client, pipeline, NAME, SPEC.training_set, FEATURES,
                            frame(0)[0].head(20), ["scikit-learn", "skops"])


def register_raw(client: MlflowClient, pipeline: Pipeline, metadata: dict, **flavor) -> int:
    """Registered as an attacker with registry access would: any format, any trusted list,
    any metadata; with correct digests, so only the content itself can refuse it."""
    with mlflow.start_run():
        logged = mlflow.sklearn.log_model(pipeline, name="model", registered_model_name=NAME,
                                          input_example=frame(0)[0].head(3),
                                          pip_requirements=["scikit-learn"],
                                          metadata={SPEC_KEY: metadata}, **flavor)
    version = int(logged.registered_model_version)
    record_digests(client, NAME, version)
    return version


def stored(client: MlflowClient, version: int) -> Path:
    return Path(urlparse(client.get_model_version_download_uri(NAME, str(version))).path)


def candidate(version: int, pipeline: Pipeline) -> Candidate:
    holdout = pl.from_pandas(frame(3)[0])
    return Candidate(NAME, version, "run", TrainedModel(pipeline, FEATURES, holdout, holdout),
                     Evaluation({"roc_auc": 0.8}, pl.DataFrame(), np.array([])), {})


def test_a_registered_version_loads_verified_and_predicts_as_trained(
    client: MlflowClient,
) -> None:
    pipeline = fitted(1)
    version = register(client, pipeline)
    client.set_registered_model_alias(NAME, CHAMPION, str(version))

    digests = json.loads(client.get_model_version(NAME, str(version)).tags[DIGEST_TAG])
    assert {"MLmodel", "model.skops", "input_example.json"} <= digests.keys()
    assert not list(stored(client, version).glob("*.pkl"))
    for uri in (model_uri(NAME, version), f"models:/{NAME}@{CHAMPION}"):
        packaged = load_packaged(uri)
        x = frame(5)[0]
        assert np.array_equal(packaged.pipeline.predict_proba(x), pipeline.predict_proba(x))
        assert packaged.training_set is MODEL.training_set and packaged.version == version
    assert reload_matches(candidate(version, pipeline)).passed


def test_a_version_mlflow_itself_loaded_by_name_still_loads(client: MlflowClient) -> None:
    """MLflow writes `registered_model_meta` into a local store's version folder when it
    loads `models:/...` (`mlflow models serve` does): not tampering, and never read here."""
    pipeline = fitted(4)
    version = register(client, pipeline)
    mlflow.artifacts.download_artifacts(model_uri(NAME, version))
    assert (stored(client, version) / "registered_model_meta").is_file()

    packaged = load_packaged(model_uri(NAME, version))
    x = frame(5)[0]
    assert np.array_equal(packaged.pipeline.predict_proba(x), pipeline.predict_proba(x))


@pytest.mark.parametrize("tamper", ["swap model.skops", "edit MLmodel", "add a file",
                                    "remove a file"])
def test_a_tampered_artifact_is_refused_by_every_loader(
    tamper: str, client: MlflowClient, second: tuple[int, Pipeline], tmp_path: Path
) -> None:
    first = fitted(1)
    v1, (v2, other) = register(client, first), second
    one, two = stored(client, v1), stored(client, v2)
    x = frame(5)[0]
    assert not np.array_equal(first.predict_proba(x), other.predict_proba(x))
    if tamper == "swap model.skops":  # version 2's model served as version 1
        shutil.copy(two / "model.skops", one / "model.skops")
        file = "model.skops"
    elif tamper == "edit MLmodel":  # whitelist a dangerous type in the artifact's own list
        text = (one / "MLmodel").read_text()
        (one / "MLmodel").write_text(text.replace("skops_trusted_types:",
                                                  "skops_trusted_types:\n    - builtins.eval"))
        file = "MLmodel"
    elif tamper == "add a file":
        (one / "extra.pkl").write_bytes(b"not registered")
        file = "extra.pkl"
    else:
        (one / "input_example.json").unlink()
        file = "input_example.json"
    refusal = rf"{NAME} version {v1}: artifact file '{file}'"

    with pytest.raises(ModelArtifactError, match=refusal):
        load_packaged(model_uri(NAME, v1))
    fe = FeatureEngineeringClient(Catalog(str(tmp_path / "lakehouse"), "dev"))
    rows = pl.DataFrame({"customer_id": [1]})
    with pytest.raises(ModelArtifactError, match=refusal):  # batch scoring
        fe.score_batch(model_uri(NAME, v1), rows)
    with pytest.raises(ModelArtifactError, match=refusal):  # serving's loader
        load_model(fe, NAME, v1)
    client.set_registered_model_alias(NAME, CHAMPION, str(v1))
    with pytest.raises(ModelArtifactError, match=refusal):  # a server refuses to start
        Deployments(fe, client, {"churn_clf": SPEC}, 0.0).refresh()
    gate = reload_matches(candidate(v1, first))  # the reload gate fails, saying why
    assert not gate.passed and file in gate.detail["refused"]
    gate = beats_champion(client, SPEC, candidate(v2, other))  # an unusable champion is
    assert gate.passed and file in gate.detail["refused"]  # recorded, not compared
    assert np.array_equal(load_packaged(model_uri(NAME, v2)).pipeline.predict_proba(x),
                          other.predict_proba(x))  # the untouched version still loads
    fe.close()


def test_a_version_without_recorded_digests_is_refused(client: MlflowClient) -> None:
    version = register(client, fitted(1))
    client.delete_model_version_tag(NAME, str(version), DIGEST_TAG)

    with pytest.raises(ModelArtifactError, match=f"version {version} has no {DIGEST_TAG}"):
        load_packaged(model_uri(NAME, version))


def test_a_model_holding_an_untrusted_type_is_refused(client: MlflowClient) -> None:
    x, y = frame(1)
    custom = Pipeline([("custom", Passthrough()), *build_pipeline(SPEC, FEATURES).steps]).fit(x, y)
    listed = [*TRUSTED_TYPES, f"{__name__}.Passthrough"]  # the artifact trusts its own type
    version = register_raw(client, custom, feature_spec(SPEC.training_set, FEATURES),
                           serialization_format="skops", skops_trusted_types=listed)
    assert f"{__name__}.Passthrough" in (stored(client, version) / "MLmodel").read_text()

    with pytest.raises(ModelArtifactError, match=r"outside the trusted list: .*Passthrough"):
        load_packaged(model_uri(NAME, version))


def test_a_pickled_model_is_refused(client: MlflowClient) -> None:
    version = register_raw(client, fitted(1), feature_spec(SPEC.training_set, FEATURES),
                           serialization_format="cloudpickle")

    with pytest.raises(ModelArtifactError, match="'cloudpickle', not skops"):
        load_packaged(model_uri(NAME, version))


def test_training_set_named_in_an_artifact_is_never_imported(
    client: MlflowClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    planted = tmp_path / "modules"
    planted.mkdir()
    (planted / "planted_training_set.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from lakehouse_ml.domains.churn.training import TRAINING_SET\n")
    monkeypatch.syspath_prepend(str(planted))
    reference = "planted_training_set:TRAINING_SET"
    metadata = {**feature_spec(SPEC.training_set, FEATURES), "training_set": reference,
                "training_set_ref": reference}
    version = register_raw(client, fitted(1), metadata, serialization_format="skops",
                           skops_trusted_types=list(TRUSTED_TYPES))

    with pytest.raises(ModelArtifactError, match="is not declared by any domain"):
        load_packaged(model_uri(NAME, version))
    assert not marker.exists() and "planted_training_set" not in sys.modules
