"""How a model travels with its features: the pipeline plus a `feature_spec` in its metadata.

The spec names the declared training set (lookups and feature functions) by import path, so
batch scoring and serving rebuild exactly the features the model was trained on from keys
alone; the lookups are also written out in full, and checked at load time.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from typing import Any

import mlflow
from sklearn.pipeline import Pipeline

from lakehouse_ml.features import FeatureFunction, FeatureLookup
from lakehouse_ml.medallion.spec import TrainingSetSpec

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


def feature_spec(training_set_ref: str, spec: TrainingSetSpec, features: list[str]) -> dict:
    return {"training_set_ref": training_set_ref, "features": features, "label": spec.label,
            "time_column": spec.time_column, "steps": describe_steps(spec)}


@dataclass(frozen=True)
class PackagedModel:
    pipeline: Pipeline
    features: list[str]
    training_set: TrainingSetSpec
    uri: str


def _resolve(reference: str) -> TrainingSetSpec:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def load_packaged(uri: str) -> PackagedModel:
    """The pipeline and its training-set declaration; refuses a declaration that changed."""
    spec_doc = mlflow.models.get_model_info(uri).metadata[SPEC_KEY]
    training_set = _resolve(spec_doc["training_set_ref"])
    if describe_steps(training_set) != spec_doc["steps"]:
        raise ValueError(
            f"{uri}: the feature lookups of {spec_doc['training_set_ref']} changed since this "
            "model was trained; retrain it (or restore the declaration) before scoring"
        )
    pipeline = mlflow.sklearn.load_model(uri)
    return PackagedModel(pipeline, spec_doc["features"], training_set, uri)
