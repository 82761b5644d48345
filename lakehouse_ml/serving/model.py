"""One registered model version, loaded once, with everything a request needs to reach it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from mlflow.models import Model

from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.features.lookup import time_columns
from lakehouse_ml.features.row_lookup import RowLookupUnsupported, Unmatched
from lakehouse_ml.features.timestamps import STORED
from lakehouse_ml.medallion.spec import TrainingSetSpec
from lakehouse_ml.ml.packaging import PackagedModel, load_packaged
from lakehouse_ml.ml.registry import model_uri
from lakehouse_ml.quality.contracts import ALLOW_NON_FINITE
from lakehouse_ml.serving.predictor import Columns, Predict, compile_predictor

log = logging.getLogger(__name__)

Lookup = Callable[[Columns, datetime], tuple[Columns, Unmatched]]
"""Key columns and the serving time → the model's features (as columns) and, per row, the
feature tables whose lookup found no row for its key."""

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
    slow_reason: str | None
    """Why the fast paths do not serve it (one line: the predictor's reason, the lookup's, or
    both joined by "; "), None when they do (`fast`)."""
    lookup: Lookup
    keys: pl.Schema
    """Request columns the feature lookups match on, typed like the feature tables' keys."""
    features: pl.Schema
    """The model's inputs, typed as its MLflow signature declares them."""
    non_finite: frozenset[str] = frozenset()
    """Inputs a full row may give as NaN or ±Infinity (see `non_finite_inputs`)."""

    @property
    def fast(self) -> bool:
        """Whether the fast paths serve it: `predict` compiled, features looked up row by row
        (else the pipeline and frames, as batch scoring computes them)."""
        return self.slow_reason is None

    @property
    def training_set(self) -> TrainingSetSpec:
        return self.packaged.training_set


def _key_schema(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> pl.Schema:
    keys: dict[str, pl.DataType] = {}
    for step in spec.feature_lookups:
        if isinstance(step, FeatureLookup):
            table = client.get_table(step.table_name)
            for column, key in zip(step.lookup_keys, table.entity_keys, strict=True):
                keys.setdefault(column, table.schema[key])
    return pl.Schema(keys)


def non_finite_inputs(client: FeatureEngineeringClient, spec: TrainingSetSpec,
                      features: pl.Schema) -> frozenset[str]:
    """The model's float inputs that may be NaN or ±Infinity: those looked up from a feature
    table column the catalog tags `allow_non_finite` (the name silver contracts use in a
    field's metadata). Every other input of a full row must be finite."""
    allowed: set[str] = set()
    for step in spec.feature_lookups:
        if isinstance(step, FeatureLookup):
            tags = client.catalog.describe(step.table_name).info.column_tags
            allowed |= {step.output_name(c) for c, t in tags.items() if ALLOW_NON_FINITE in t}
    return frozenset(f for f in allowed & set(features) if features[f].is_float())


def _feature_schema(model: Model, features: list[str]) -> pl.Schema:
    declared = {c.name: c.type.name for c in model.signature.inputs.inputs}
    unsupported = {f: declared.get(f) for f in features if declared.get(f) not in SIGNATURE_TYPES}
    if unsupported:
        raise ValueError(f"model inputs {unsupported} have no request type (signature types "
                         f"supported: {sorted(SIGNATURE_TYPES)})")
    return pl.Schema({f: SIGNATURE_TYPES[declared[f]] for f in features})


def _frame_lookup(client: FeatureEngineeringClient, spec: TrainingSetSpec, keys: pl.Schema,
                  needed: list[str]) -> Lookup:
    """`lookup_online` on a frame: for lookups `RowLookup` cannot serve."""
    steps = list(spec.feature_lookups)
    times = time_columns(steps)

    def lookup(columns: Columns, at: datetime) -> tuple[Columns, Unmatched]:
        rows = pl.DataFrame({k: columns[k] for k in keys}, schema=keys)
        matched: list[tuple[str, pl.Series]] = []
        found = client.lookup_online(rows.with_columns(
            pl.lit(at, dtype=STORED).alias(t) for t in times), steps, matched)
        unmatched: Unmatched = [[] for _ in range(rows.height)]
        for table, flags in matched:
            for row in (~flags).arg_true().to_list():
                unmatched[row].append(table)
        return found.select(needed).to_dict(as_series=False), unmatched

    return lookup


def lookup_path(client: FeatureEngineeringClient, spec: TrainingSetSpec, keys: pl.Schema,
                needed: list[str]) -> tuple[Lookup, str | None]:
    """Row by row where the needed columns allow it, else on frames; and why not by row (the
    column, its type and its table), None when by row."""
    try:
        return client.row_lookup(list(spec.feature_lookups), keys, needed).with_unmatched, None
    except RowLookupUnsupported as reason:
        return (_frame_lookup(client, spec, keys, needed),
                f"its features are looked up on frames: a row cannot carry {reason}")


def load_model(client: FeatureEngineeringClient, name: str, version: int) -> ServedModel:
    """Load a registered version for serving; a version the fast paths cannot serve is logged
    as a warning naming it and why (also on /health). Raises ModelArtifactError when its files
    differ from those registered or hold untrusted types (see `ml.artifacts`)."""
    packaged = load_packaged(model_uri(name, version))
    keys = _key_schema(client, packaged.training_set)
    features = _feature_schema(packaged.logged, packaged.features)
    predict, slow_predict = compile_predictor(packaged.pipeline, features,
                                              packaged.input_example)
    lookup, slow_lookup = lookup_path(client, packaged.training_set, keys, list(features))
    slow = "; ".join(reason for reason in (slow_predict, slow_lookup) if reason) or None
    if slow is not None:
        log.warning("%s version %s is served without the fast path: %s", name, version, slow)
    return ServedModel(name=name, version=version, packaged=packaged, predict=predict,
                       slow_reason=slow, lookup=lookup, keys=keys, features=features,
                       non_finite=non_finite_inputs(client, packaged.training_set, features))
