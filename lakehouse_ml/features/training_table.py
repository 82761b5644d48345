"""A declared training set, built at pinned versions and kept as a Delta table.

The table's catalog tags record the version of every feature table and of the labels it read,
so the exact frame can be rebuilt later (`rebuild_training_set`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from lakehouse_ml.catalog import TableInfo
from lakehouse_ml.features.client import FeatureEngineeringClient
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.features.training_set import TrainingSet
from lakehouse_ml.medallion.spec import TrainingSetSpec

PINNED = "pinned_version:"


@dataclass(frozen=True)
class BuiltTrainingSet:
    training_set: TrainingSet
    frame: pl.DataFrame
    versions: dict[str, int]
    """Every table read → its Delta version (labels included)."""
    table_version: int


def _labels(client: FeatureEngineeringClient, spec: TrainingSetSpec, version: int) -> pl.DataFrame:
    """Label rows without lineage columns, in a stable order (silver's order is not)."""
    rows = client.catalog.scan(spec.labels, version).select(pl.exclude("^_.*$"))
    return rows.sort([c for c in rows.collect_schema() if c != spec.label]).collect()


def build_training_set(
    client: FeatureEngineeringClient, spec: TrainingSetSpec,
    versions: Mapping[str, int] | None = None,
) -> tuple[TrainingSet, dict[str, int], pl.DataFrame]:
    """The training set at the given versions (default: current ones), in label-time order."""
    labels_name = str(client.catalog.name(spec.labels))
    pinned = dict(versions or {})
    label_version = pinned.pop(labels_name, None)
    if label_version is None:
        label_version = client.catalog.version(spec.labels)
    training_set = client.create_training_set(
        _labels(client, spec, label_version), list(spec.feature_lookups), spec.label,
        exclude_columns=spec.exclude_columns, versions=pinned or None,
    )
    used = {labels_name: label_version, **training_set.table_versions}
    return training_set, used, training_set.load_df()


def write_training_set(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> BuiltTrainingSet:
    training_set, versions, frame = build_training_set(client, spec)
    tags = {f"{PINNED}{name}": str(v) for name, v in versions.items()}
    info = TableInfo(owner=spec.owner, comment=spec.description, tags=tags)
    client.catalog.create_table(spec.name, frame.schema, info)
    version = client.catalog.overwrite(spec.name, frame, evolve=True)
    return BuiltTrainingSet(training_set, frame, versions, version)


def pinned_versions(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> dict[str, int]:
    tags = client.catalog.describe(spec.name).info.tags
    return {k.removeprefix(PINNED): int(v) for k, v in tags.items() if k.startswith(PINNED)}


def rebuild_training_set(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> pl.DataFrame:
    """The frame the stored training set was built from, recomputed from its pinned versions."""
    return build_training_set(client, spec, pinned_versions(client, spec))[2]


def leakage(frame: pl.DataFrame, spec: TrainingSetSpec) -> pl.DataFrame:
    """Per looked-up table: rows whose snapshot is later than the label time (must be 0)."""
    columns = [c for c in frame.columns if c.endswith(f"_{AS_OF}")]
    label_time = pl.col(spec.time_column)
    return pl.DataFrame({
        "snapshot_column": columns,
        "later_than_label": [int(frame.select((pl.col(c) > label_time).sum()).item())
                             for c in columns],
        "matched": [int(frame[c].is_not_null().sum()) for c in columns],
        "rows": [frame.height] * len(columns),
    }, schema={"snapshot_column": pl.String, "later_than_label": pl.Int64,
               "matched": pl.Int64, "rows": pl.Int64})
