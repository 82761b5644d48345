"""The point-in-time join: for each row, the feature row it was allowed to see.

A row with key k and time t gets the feature row with key k and the greatest timestamp <= t,
and, under a lookback window w, only if t - timestamp <= w. Only the narrow key/time columns are
sorted and joined; the join yields a row index into the feature rows, and features are gathered
by it at the end, so wide feature tables are never sorted or hashed.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lakehouse_ml.features.errors import FeatureStoreError, KeyTypeError
from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.features.table import FeatureTable
from lakehouse_ml.features.timestamps import require_aware

_ROW = "__lakehouse_row"
_MATCH = "__lakehouse_match"
_TIME = "__lakehouse_time"


@dataclass(frozen=True)
class ResolvedLookup:
    """A lookup checked against its table: the columns it joins on and the features it returns."""

    lookup: FeatureLookup
    table: FeatureTable
    features: list[str]

    @property
    def outputs(self) -> list[str]:
        return [self.lookup.output_name(f) for f in self.features]

    @property
    def point_in_time(self) -> bool:
        return self.lookup.timestamp_lookup_key is not None


def resolve(lookup: FeatureLookup, table: FeatureTable, rows: pl.Schema) -> ResolvedLookup:
    """Check a lookup against its table and the rows' schema, before any data is read."""
    where = f"lookup on {table.name}"
    if len(lookup.lookup_keys) != len(table.entity_keys):
        raise FeatureStoreError(
            f"{where}: lookup_key {lookup.lookup_keys} must name one column per primary key "
            f"{table.entity_keys}"
        )
    features = list(lookup.feature_names or table.feature_names)
    unknown = [f for f in features if f not in table.feature_names]
    if unknown:
        raise FeatureStoreError(f"{where}: feature(s) {unknown} not in {table.feature_names}")
    stored = {f.name: f.dtype for f in table.features}
    missing = [c for c in lookup.lookup_keys if c not in rows]
    if missing:
        raise FeatureStoreError(f"{where}: lookup key column(s) {missing} not in the rows")
    for column, key in zip(lookup.lookup_keys, table.entity_keys, strict=True):
        if rows[column] != table.key_dtypes[key]:
            raise KeyTypeError(
                f"{where}: lookup key column {column!r} is {rows[column]} but the table's key "
                f"{key!r} is {table.key_dtypes[key]}; cast {column!r} first"
            )
    if lookup.timestamp_lookup_key is not None or lookup.lookback_window is not None:
        if table.timeseries_column is None:
            raise FeatureStoreError(
                f"{where}: the table has no timeseries column, so timestamp_lookup_key and "
                "lookback_window do not apply"
            )
        if lookup.timestamp_lookup_key is None:
            raise FeatureStoreError(f"{where}: lookback_window needs a timestamp_lookup_key")
        require_aware(rows, lookup.timestamp_lookup_key, f"{where}, rows")
    del stored
    return ResolvedLookup(lookup, table, features)
