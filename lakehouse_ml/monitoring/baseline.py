"""The baseline a monitor's BASELINE drift compares each window with."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import polars as pl
from deltalake.exceptions import DeltaError
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ml.registry import CHAMPION, alias_version, tracking_client
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.ml.windows import window_checks
from lakehouse_ml.monitoring.spec import Baseline, BaselineTable, ChampionTrainingSet
from lakehouse_ml.monitoring.windows import MonitorError


@dataclass(frozen=True)
class BaselineFrame:
    frame: pl.DataFrame
    table: str
    """The full name of the table read (`env.schema.table`)."""
    version: int
    """The Delta version read."""


class TrainingSetUnreadable(MonitorError):
    """The training-set version a registered model version pins can no longer be read
    (VACUUM removed its files, or its log entry expired)."""


def declared_model(model: str) -> ModelSpec:
    """The `ModelSpec` a domain declares under `model` (its `name`); MonitorError naming the
    declared models when none does."""
    from lakehouse_ml.domains import declared_models  # declarations, loaded on demand

    models = {spec.name: spec for spec in declared_models()}
    if model not in models:
        raise MonitorError(f"no domain declares a model {model!r} "
                           f"(declared: {', '.join(sorted(models)) or 'none'})")
    return models[model]


def pinned_training_set(catalog: Catalog, spec: ModelSpec, found: ModelVersion
                        ) -> BaselineFrame:
    """The training set the registered version `found` of `spec` was trained on: its
    training-set table at the Delta version `found`'s `data_versions` tag pins (the frame it
    was fitted and validated on, holdout included). MonitorError when the tag does not pin
    the table; TrainingSetUnreadable when that version can no longer be read."""
    table = str(catalog.name(spec.training_set.name))
    try:
        pinned = int(json.loads((found.tags or {}).get(DATA_VERSIONS) or "{}")[table])
    except (ValueError, KeyError, TypeError) as error:
        raise MonitorError(f"{found.name} version {found.version}: its {DATA_VERSIONS} tag "
                           f"does not pin {table}, so its training set cannot be read"
                           ) from error
    try:
        return BaselineFrame(catalog.read(table, pinned), table, pinned)
    except (OSError, DeltaError) as error:  # its files vacuumed, or its log entry expired
        raise TrainingSetUnreadable(
            f"{found.name} version {found.version}: its training set {table} at version "
            f"{pinned} cannot be read ({type(error).__name__}: {error})") from error


def champion_training_set(catalog: Catalog, spec: ModelSpec, client: MlflowClient
                          ) -> BaselineFrame | None:
    """`pinned_training_set` of `spec`'s champion; None when the model has no champion yet.
    MonitorError when the champion's tags do not pin the training set, TrainingSetUnreadable
    when its version can no longer be read."""
    found = champion_version(catalog, spec, client)
    return None if found is None else pinned_training_set(catalog, spec, found)


def champion_version(catalog: Catalog, spec: ModelSpec, client: MlflowClient
                     ) -> ModelVersion | None:
    """The registered version of `spec` (in `catalog`'s environment) that holds the champion
    alias; None when none does."""
    name = spec.registered_name(catalog.env)
    version = alias_version(client, name, CHAMPION)
    return None if version is None else client.get_model_version(name, str(version))


def baseline_frame(catalog: Catalog, baseline: Baseline, *,
                   client: MlflowClient | None = None) -> BaselineFrame | None:
    """The rows of `baseline`. `ChampionTrainingSet(model)`: the champion's training set
    (`champion_training_set`) with values of truncated windows NULL (`complete_windows`), None
    while the model has no champion ("no baseline yet": the
    monitor then writes CONSECUTIVE drift only). `BaselineTable`: that table at its version
    (latest when None). MonitorError naming the model or table when it is not declared or
    does not exist, TrainingSetUnreadable when the champion's pinned training-set version
    can no longer be read. `client`: `tracking_client()` by default."""
    if isinstance(baseline, ChampionTrainingSet):
        spec = declared_model(baseline.model)
        found = champion_training_set(catalog, spec, client or tracking_client())
        return None if found is None else replace(
            found, frame=complete_windows(catalog, spec, found.frame))
    if isinstance(baseline, BaselineTable):
        if not catalog.exists(baseline.table):
            raise MonitorError(f"baseline table {baseline.table} does not exist")
        version = (catalog.version(baseline.table) if baseline.version is None
                   else baseline.version)
        return BaselineFrame(catalog.read(baseline.table, version),
                             str(catalog.name(baseline.table)), version)
    raise MonitorError(f"unknown baseline {baseline!r}")


def complete_windows(catalog: Catalog, spec: ModelSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` (rows of `spec`'s training set) with each feature NULL in the rows whose
    window is not complete (`ml.windows.window_checks`: the matched snapshot looked back
    before the history of its feature table): a 90-day count over 14 days of history is not
    a value of the 90-day count's distribution, so it is no baseline for one over 90 days.
    Features without a look-back, feature functions, and lookups whose table no domain
    declares, or that is missing or empty, are left as they are."""
    checks = window_checks(catalog, spec.training_set, frame.columns)
    return frame.with_columns(pl.when(check).then(pl.col(column)).alias(column)
                              for column, check in checks.items())
