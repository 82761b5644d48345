"""How a model travels with its features: the pipeline plus a `feature_spec` in its metadata.

The spec names the declared training set (lookups and feature functions) by its table name,
which is looked up among the project's declared domains, never imported from the artifact;
the lookups are also written out in full, and checked at load time, so batch scoring and
serving rebuild exactly the features the model was trained on from keys alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import Model, infer_signature
from sklearn.pipeline import Pipeline

from lakehouse_ml.features import FeatureFunction, FeatureLookup
from lakehouse_ml.medallion.spec import TrainingSetSpec
from lakehouse_ml.ml.artifacts import (
    TRUSTED_TYPES,
    ModelArtifactError,
    load_pipeline,
    record_digests,
    resolve,
    verified_copy,
)
from lakehouse_ml.ml.registry import tracking_client

SPEC_KEY = "feature_spec"


def describe_steps(spec: TrainingSetSpec) -> list[dict[str, Any]]:
    """The lookups and functions as plain data (what the model card and tags show)."""
    steps = []
    for step in spec.feature_lookups:
        if isinstance(step, FeatureLookup):
            fields = asdict(step)
            window = fields["lookback_window"]
            fields["lookback_window"] = window.total_seconds() if window is not None else None
            steps.append({"lookup": fields})
        elif isinstance(step, FeatureFunction):
            steps.append({"function": {"name": step.name, "output": step.output}})
    return steps


def feature_spec(spec: TrainingSetSpec, features: list[str]) -> dict:
    return {"training_set": spec.name, "features": features, "label": spec.label,
            "time_column": spec.time_column, "steps": describe_steps(spec)}


def declared_training_set(name: object, label: str) -> TrainingSetSpec:
    """The training set a domain declares under table name `name`; ModelArtifactError if no
    declared domain has it (an artifact never names code to import)."""
    from lakehouse_ml.domains import declared_domains  # the declarations, loaded on demand

    for domain in declared_domains():
        if domain.training_set is not None and domain.training_set.name == name:
            return domain.training_set
    raise ModelArtifactError(f"{label}: training set {name!r} is not declared by any domain "
                             "of this project")


@dataclass(frozen=True)
class PackagedModel:
    pipeline: Pipeline
    features: list[str]
    training_set: TrainingSetSpec
    uri: str
    version: int
    logged: Model
    """The version's MLmodel (signature, metadata), read from the verified files."""
    input_example: pd.DataFrame | None


def load_packaged(uri: str) -> PackagedModel:
    """The pipeline and its training-set declaration, from files checked against the sha256
    recorded at registration, with the fixed trusted-type list. `uri` is
    `models:/<name>/<version>` or `models:/<name>@<alias>`.

    Raises ModelArtifactError (naming the version, and the file where one is at fault) for
    changed files, an untrusted type, a pickle, or an undeclared training set; ValueError
    when the declared lookups changed since training."""
    client = tracking_client()
    name, version = resolve(client, uri)
    label = f"{name} version {version}"
    with verified_copy(client, name, version) as folder:
        logged = Model.load(str(folder))
        spec_doc = (logged.metadata or {}).get(SPEC_KEY)
        if not isinstance(spec_doc, dict):
            raise ModelArtifactError(f"{label}: MLmodel has no {SPEC_KEY} metadata")
        training_set = declared_training_set(spec_doc.get("training_set"), label)
        if describe_steps(training_set) != spec_doc.get("steps"):
            raise ValueError(
                f"{label}: the feature lookups of {training_set.name} changed since this "
                "model was trained; retrain it (or restore the declaration) before scoring"
            )
        pipeline = load_pipeline(folder, logged, label)
        example = logged.load_input_example(str(folder))
    return PackagedModel(pipeline, list(spec_doc["features"]), training_set, uri, version,
                         logged, example)


class _SklearnWithoutServingCheck:
    """`mlflow.sklearn` as `Model.log`'s flavor, minus MLflow's serving check of the input
    example. That check predicts the example in a simulated serving environment, which sets
    and then deletes `_MLFLOW_IS_IN_SERVING_ENVIRONMENT` in `os.environ`
    (`mlflow.pyfunc.utils.environment._simulate_serving_environment`): a libc setenv/unsetenv
    inside the training step, not thread-safe while other threads read the environment.
    `Model.log` skips the check on `validate_serving_input=False` and passes that keyword on
    to the flavor's `save_model`, which `mlflow.sklearn.save_model` refuses (TypeError), so it
    is dropped here (MLflow's transformers flavor passes it the same way). The example is
    still saved by `mlflow.sklearn.save_model` as MLflow records it (`input_example.json`,
    `serving_input_example.json`, MLmodel's `saved_input_example_info`)."""

    @staticmethod
    def save_model(validate_serving_input: bool, **flavor: Any) -> None:
        mlflow.sklearn.save_model(**flavor)


def log_packaged(client: MlflowClient, pipeline: Pipeline, registered_name: str,
                 training_set: TrainingSetSpec, features: list[str], example: pd.DataFrame,
                 pip_requirements: list[str]) -> int:
    """Log `pipeline` with skops in the active run (as `mlflow.sklearn.log_model` does, with
    `example.head(3)` as its input example and a signature inferred from `example`, but no
    environment write), register it under `registered_name` and record the sha256 of its
    stored files; returns the new version."""
    logged = Model.log(
        artifact_path=None, flavor=_SklearnWithoutServingCheck, flavor_name="mlflow.sklearn",
        validate_serving_input=False, sk_model=pipeline, name="model",
        registered_model_name=registered_name,
        signature=infer_signature(example, pipeline.predict_proba(example)),
        input_example=example.head(3), pip_requirements=pip_requirements,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=list(TRUSTED_TYPES),
        metadata={SPEC_KEY: feature_spec(training_set, features)},
    )
    version = int(logged.registered_model_version)
    record_digests(client, registered_name, version)
    return version
