"""What a model's batch scoring scores, and as of when, from its declaration."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureLookup
from lakehouse_ml.features.table import load_table
from lakehouse_ml.ml.spec import BatchScoring, ModelSpec


def scoring_keys(catalog: Catalog, scoring: BatchScoring) -> pl.DataFrame:
    """The distinct keys of `scoring.keys_table` that `scoring.eligible` keeps, sorted (one
    column, `scoring.key`). ValueError naming the table when it has no such column, or when
    the filter returns other columns."""
    keys_schema = catalog.scan(scoring.keys_table).collect_schema()
    if scoring.key not in keys_schema:
        raise ValueError(f"batch scoring: {scoring.keys_table} has no key column "
                         f"{scoring.key!r} (columns: {', '.join(keys_schema)})")
    keys = catalog.scan(scoring.keys_table).select(scoring.key).unique()
    if scoring.eligible is not None:
        keys = scoring.eligible(keys, {name: catalog.scan(name) for name in scoring.reads})
    frame = keys.collect()
    if frame.columns != [scoring.key]:
        raise ValueError(f"batch scoring: the eligibility filter returned columns "
                         f"{frame.columns}, expected only [{scoring.key!r}]")
    return frame.unique().sort(scoring.key)


def scoring_time(catalog: Catalog, spec: ModelSpec, now: datetime | None = None) -> datetime:
    """The latest time every point-in-time lookup of `spec`'s training set can serve: the
    earliest of its feature tables' latest snapshots, each read from the table's declared
    timeseries column, and never later than `now` (default: the current time): a snapshot
    stamped after now (tomorrow 00:00, from a day not over) is not served yet, so scores are
    as of now, with the features as they are now. ValueError naming the model when no lookup
    is point in time, or the table when one holds no snapshot yet."""
    tables = sorted({step.table_name for step in spec.training_set.feature_lookups
                     if isinstance(step, FeatureLookup) and step.timestamp_lookup_key})
    latest = []
    for table in tables:
        column = load_table(catalog, table).timeseries_column
        if column is None:
            continue
        newest = catalog.scan(table).select(pl.col(column).max()).collect().item()
        if newest is None:
            raise ValueError(f"batch scoring of {spec.name}: feature table {table} holds no "
                             "snapshot yet")
        latest.append(newest)
    if not latest:
        raise ValueError(f"batch scoring of {spec.name}: its training set has no point-in-time "
                         "lookup on a feature table with a timeseries column")
    return min(*latest, now or datetime.now(UTC))
