"""One registered model version, loaded once, with everything a request needs to reach it."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from mlflow.models import Model

from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.medallion.spec import TrainingSetSpec
from lakehouse_ml.ml.packaging import PackagedModel, load_packaged
from lakehouse_ml.ml.registry import model_uri
from lakehouse_ml.serving.predictor import Predict, compile_predictor

SIGNATURE_TYPES = {
    "long": pl.Int64, "integer": pl.Int32, "double": pl.Float64, "float": pl.Float32,
    "string": pl.String, "boolean": pl.Boolean,
}


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: int
    packaged: PackagedModel
    predict: Predict
    fast: bool
    """Whether `predict` is the fast path (else the pipeline as batch scoring calls it)."""
    keys: pl.Schema
    """Request columns the feature lookups match on, typed like the feature tables' keys."""
    features: pl.Schema
    """The model's inputs, typed as its MLflow signature declares them."""

    @property
    def training_set(self) -> TrainingSetSpec:
        return self.packaged.training_set

    @property
    def time_columns(self) -> list[str]:
        """Request time columns of the point-in-time lookups (set to the serving time)."""
        return list(dict.fromkeys(
            s.timestamp_lookup_key for s in self.training_set.feature_lookups
            if isinstance(s, FeatureLookup) and s.timestamp_lookup_key is not None
        ))


def _key_schema(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> pl.Schema:
    keys: dict[str, pl.DataType] = {}
    for step in spec.feature_lookups:
        if isinstance(step, FeatureLookup):
            table = client.get_table(step.table_name)
            for column, key in zip(step.lookup_keys, table.entity_keys, strict=True):
                keys.setdefault(column, table.schema[key])
    return pl.Schema(keys)


def _feature_schema(model: Model, features: list[str]) -> pl.Schema:
    declared = {c.name: c.type.name for c in model.signature.inputs.inputs}
    unsupported = {f: declared.get(f) for f in features if declared.get(f) not in SIGNATURE_TYPES}
    if unsupported:
        raise ValueError(f"model inputs {unsupported} have no request type (signature types "
                         f"supported: {sorted(SIGNATURE_TYPES)})")
    return pl.Schema({f: SIGNATURE_TYPES[declared[f]] for f in features})


def load_model(client: FeatureEngineeringClient, name: str, version: int) -> ServedModel:
    uri = model_uri(name, version)
    packaged = load_packaged(uri)
    logged = Model.load(uri)
    predict, fast = compile_predictor(packaged.pipeline, packaged.features,
                                      logged.load_input_example(uri))
    return ServedModel(
        name=name, version=version, packaged=packaged, predict=predict, fast=fast,
        keys=_key_schema(client, packaged.training_set),
        features=_feature_schema(logged, packaged.features),
    )
