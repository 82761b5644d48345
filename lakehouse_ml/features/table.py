"""What makes a Delta table a feature table: its keys, time column and feature descriptions.

They are kept in the catalog's table metadata (reserved tags and column comments), so that any
reader of the catalog, not only this client, can tell how the table is keyed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from lakehouse_ml.catalog import Catalog, RegisteredTable, TableInfo
from lakehouse_ml.features.errors import FeatureStoreError

_PREFIX = "feature_store."
_KEYS_TAG = f"{_PREFIX}primary_keys"
_TIME_TAG = f"{_PREFIX}timeseries_column"


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: pl.DataType
    description: str


@dataclass(frozen=True)
class FeatureTable:
    """A feature table as `get_table` reports it, at one Delta version."""

    name: str
    primary_keys: list[str]
    """All key columns, the timeseries column included (as in Databricks)."""
    timeseries_column: str | None
    features: list[Feature]
    description: str
    tags: dict[str, str]
    version: int
    schema: pl.Schema
    """Every column of the table at `version`, keys included."""

    @property
    def entity_keys(self) -> list[str]:
        """The primary keys without the timeseries column: what a lookup key matches."""
        return [k for k in self.primary_keys if k != self.timeseries_column]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


def table_info(
    *, owner: str, primary_keys: Sequence[str], timeseries_column: str | None,
    description: str | None, tags: Mapping[str, str] | None,
    feature_descriptions: Mapping[str, str] | None,
) -> TableInfo:
    reserved = [t for t in (tags or {}) if t.startswith(_PREFIX)]
    if reserved:
        raise FeatureStoreError(f"tags {reserved} use the reserved prefix {_PREFIX!r}")
    return TableInfo(
        owner=owner,
        comment=description or "",
        tags={
            **(tags or {}),
            _KEYS_TAG: json.dumps(list(primary_keys)),
            _TIME_TAG: timeseries_column or "",
        },
        column_comments=dict(feature_descriptions or {}),
    )


def feature_table(entry: RegisteredTable, schema: pl.Schema, version: int) -> FeatureTable:
    """Read a catalog entry back as a feature table (an error if it is a plain table)."""
    tags = entry.info.tags
    if _KEYS_TAG not in tags:
        raise FeatureStoreError(
            f"table {entry.name} is not a feature table (no primary keys recorded); "
            "create it with FeatureEngineeringClient.create_table"
        )
    keys = json.loads(tags[_KEYS_TAG])
    comments = entry.info.column_comments
    return FeatureTable(
        name=entry.name,
        primary_keys=keys,
        timeseries_column=tags[_TIME_TAG] or None,
        features=[
            Feature(column, dtype, comments.get(column, ""))
            for column, dtype in schema.items() if column not in keys
        ],
        description=entry.info.comment,
        tags={k: v for k, v in tags.items() if not k.startswith(_PREFIX)},
        version=version,
        schema=schema,
    )


def load_table(catalog: Catalog, name: str, version: int | None = None) -> FeatureTable:
    """The feature table `name` at `version` (default: the latest)."""
    version = catalog.version(name) if version is None else version
    schema = catalog.scan(name, version).collect_schema()
    return feature_table(catalog.describe(name), schema, version)
