"""The baseline a monitor's BASELINE drift compares each window with."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ml.registry import CHAMPION, alias_version
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.monitoring.spec import Baseline, BaselineTable, ChampionTrainingSet
from lakehouse_ml.monitoring.windows import MonitorError


@dataclass(frozen=True)
class BaselineFrame:
    frame: pl.DataFrame
    table: str
    """The full name of the table read (`env.schema.table`)."""
    version: int
    """The Delta version read."""


def _declared_model(model: str) -> ModelSpec:
    from lakehouse_ml.domains import declared_models  # declarations, loaded on demand

    models = {spec.name: spec for spec in declared_models()}
    if model not in models:
        raise MonitorError(f"baseline ChampionTrainingSet({model!r}): no domain declares a "
                           f"model {model!r} (declared: {', '.join(sorted(models)) or 'none'})")
    return models[model]


def champion_training_set(catalog: Catalog, spec: ModelSpec, client: MlflowClient
                          ) -> BaselineFrame | None:
    """The training set `spec`'s champion was trained on: its training-set table at the Delta
    version the champion's `data_versions` tag pins (the frame it was fitted and validated
    on, holdout included). None when the model has no champion yet. MonitorError when the
    champion's tags do not pin the training set."""
    name = spec.registered_name(catalog.env)
    version = alias_version(client, name, CHAMPION)
    if version is None:
        return None
    tags = client.get_model_version(name, str(version)).tags or {}
    table = str(catalog.name(spec.training_set.name))
    try:
        pinned = json.loads(tags.get(DATA_VERSIONS) or "{}")[table]
    except (ValueError, KeyError, TypeError) as error:
        raise MonitorError(f"{name} version {version} (champion): its {DATA_VERSIONS} tag "
                           f"does not pin {table}, so its training set cannot be read "
                           f"as a baseline") from error
    return BaselineFrame(catalog.read(table, int(pinned)), table, int(pinned))


def baseline_frame(catalog: Catalog, baseline: Baseline, *,
                   client: MlflowClient | None = None) -> BaselineFrame | None:
    """The rows of `baseline`. `ChampionTrainingSet(model)`: the champion's training set
    (`champion_training_set`), None while the model has no champion ("no baseline yet": the
    monitor then writes CONSECUTIVE drift only). `BaselineTable`: that table at its version
    (latest when None). MonitorError naming the model or table when it is not declared or
    does not exist. `client`: MLflow's current tracking URI by default."""
    if isinstance(baseline, ChampionTrainingSet):
        return champion_training_set(catalog, _declared_model(baseline.model),
                                     client or MlflowClient())
    if isinstance(baseline, BaselineTable):
        if not catalog.exists(baseline.table):
            raise MonitorError(f"baseline table {baseline.table} does not exist")
        version = (catalog.version(baseline.table) if baseline.version is None
                   else baseline.version)
        return BaselineFrame(catalog.read(baseline.table, version),
                             str(catalog.name(baseline.table)), version)
    raise MonitorError(f"unknown baseline {baseline!r}")
