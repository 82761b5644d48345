"""Truncated windows: a feature looking back further than its table's history goes.

A 90-day count in a snapshot 20 days after its feature table's history starts counts only 20
days: not a value of the 90-day count's distribution. The drift baseline leaves such values
out (`monitoring.baseline.complete_windows`) and training leaves such rows out
(`ModelSpec.keep_truncated_windows`); both decide it here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.medallion.spec import FeatureTableSpec, TrainingSetSpec

SNAPSHOT_EVERY = timedelta(days=1)
"""A feature table's cadence (`FeatureTableSpec`: the snapshot of day D sees the days before
D), so its history starts this long before its first snapshot."""


def declared_feature_tables() -> list[FeatureTableSpec]:
    """The feature tables of every declared domain (`lakehouse_ml.domains`)."""
    from lakehouse_ml.domains import declared_domains  # declarations, loaded on demand

    return [table for domain in declared_domains() for table in domain.feature_tables]


def window_checks(
    catalog: Catalog, training_set: TrainingSetSpec, columns: Iterable[str],
    feature_tables: Iterable[FeatureTableSpec] | None = None,
    versions: Mapping[str, int] | None = None,
) -> dict[str, pl.Expr]:
    """Feature column of `training_set` (among `columns`) -> a Boolean expression over its
    rows: its window is complete, i.e. the row's matched snapshot (the lookup's `snapshot_at`
    column) minus the feature's `Feature.lookback` is at or after its table's history start
    (the table's first snapshot minus `SNAPSHOT_EVERY`), both read as wall-clock times of the
    table's `time_zone` (whose days are 23 or 25 hours on a clock change); null where no
    snapshot matched.
    Only features with a look-back, of lookups whose table `feature_tables` (default: the
    declared ones) holds and that exists and holds a snapshot (read at `versions`, by full
    table name, else the latest version), and whose snapshot column is in `columns`."""
    columns = set(columns)
    tables = {str(catalog.name(t.table)): t
              for t in (declared_feature_tables() if feature_tables is None else feature_tables)}
    checks: dict[str, pl.Expr] = {}
    for lookup in training_set.feature_lookups:
        name = str(catalog.name(lookup.table_name)) if isinstance(lookup, FeatureLookup) else ""
        table, snapshot = tables.get(name), lookup.output_name(AS_OF) if name else None
        if table is None or snapshot not in columns:
            continue
        windows = [(lookup.output_name(f.name), f.lookback) for f in table.features
                   if f.lookback is not None and lookup.output_name(f.name) in columns]
        if not windows or not catalog.exists(name):
            continue
        first = catalog.scan(name, (versions or {}).get(name)).select(
            pl.col(table.timestamp_key).min()).collect().item()
        if first is None:
            continue
        # on the clock of the table's days: in New York, 7 days before 03-09 00:00 (04:00 UTC,
        # summer time) is 03-02 00:00 (05:00 UTC), not 168 hours before
        start = first.astimezone(ZoneInfo(table.zone)).replace(tzinfo=None) - SNAPSHOT_EVERY
        local = pl.col(snapshot).dt.convert_time_zone(table.zone).dt.replace_time_zone(None)
        checks.update({column: local - lookback >= start for column, lookback in windows})
    return checks


def truncated_rows(
    catalog: Catalog, training_set: TrainingSetSpec, frame: pl.DataFrame,
    feature_tables: Iterable[FeatureTableSpec] | None = None,
    versions: Mapping[str, int] | None = None,
) -> pl.Series:
    """Boolean per row of `frame` (rows of `training_set`), named `truncated_window`: true
    where some feature's window starts before its table's history (`window_checks`: the
    longest window of each lookup decides), false where every window is complete or no
    snapshot matched (no value to be truncated)."""
    checks = window_checks(catalog, training_set, frame.columns, feature_tables, versions)
    if not checks:
        return pl.Series("truncated_window", [False] * frame.height, dtype=pl.Boolean)
    return frame.select(pl.any_horizontal(
        [check.not_().fill_null(False) for check in checks.values()]
    ).alias("truncated_window")).to_series()
