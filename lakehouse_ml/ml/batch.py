"""What a model's batch scoring scores, and as of when, from its declaration."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

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


def _timeseries_tables(catalog: Catalog, spec: ModelSpec) -> list[tuple[str, str]]:
    """(table, its timeseries column) of each point-in-time lookup of `spec`'s training set
    on a feature table that has one, sorted by table."""
    tables = sorted({step.table_name for step in spec.training_set.feature_lookups
                     if isinstance(step, FeatureLookup) and step.timestamp_lookup_key})
    columns = ((table, load_table(catalog, table).timeseries_column) for table in tables)
    return [(table, column) for table, column in columns if column is not None]


def scoring_time(catalog: Catalog, spec: ModelSpec, now: datetime | None = None) -> datetime:
    """The latest time every point-in-time lookup of `spec`'s training set can serve: the
    earliest of its feature tables' latest snapshots, each read from the table's declared
    timeseries column, and never later than `now` (default: the current time): a snapshot
    stamped after now (tomorrow 00:00, from a day not over) is not served yet, so scores are
    as of now, with the features as they are now. ValueError naming the model when no lookup
    is point in time, or the table when one holds no snapshot yet."""
    latest = []
    for table, column in _timeseries_tables(catalog, spec):
        newest = catalog.scan(table).select(pl.col(column).max()).collect().item()
        if newest is None:
            raise ValueError(f"batch scoring of {spec.name}: feature table {table} holds no "
                             "snapshot yet")
        latest.append(newest)
    if not latest:
        raise ValueError(f"batch scoring of {spec.name}: its training set has no point-in-time "
                         "lookup on a feature table with a timeseries column")
    return min(*latest, now or datetime.now(UTC))


MAX_DAYS_PER_RUN = 31
"""The most days one batch-scoring run scores (oldest first); later days wait for the next."""


@dataclass(frozen=True)
class ScoringPlan:
    """What one batch-scoring run scores: UTC days with features that the current champion has
    not scored, from the day after the last scored day up to the day of `scoring_time`."""

    as_of: dict[date, datetime]
    """Day → the time its keys are scored as of, oldest first, at most `max_days` of them:
    the day's latest snapshot every lookup serves (`scoring_time` for the last day)."""
    left: tuple[date, ...]
    """Days eligible too but over the bound: the next run scores them."""
    without_features: tuple[date, ...]
    """Days in the range some point-in-time feature table holds no snapshot of: not scored."""
    last_scored: date | None
    """The last day the table held scores of before this run (by any version); None: none."""


def _snapshot_days(catalog: Catalog, spec: ModelSpec, until: datetime
                   ) -> list[dict[date, datetime]]:
    """Per point-in-time feature table of `spec` with a timeseries column: UTC day → its latest
    snapshot on that day, snapshots after `until` left out."""
    found = []
    for table, column in _timeseries_tables(catalog, spec):
        stamp = pl.col(column).dt.convert_time_zone("UTC")
        days = (catalog.scan(table).select(stamp.alias("at")).filter(pl.col("at") <= until)
                .group_by(pl.col("at").dt.date().alias("day")).agg(pl.col("at").max())
                .collect())
        found.append(dict(zip(days["day"], days["at"], strict=True)))
    return found


def scored_days(catalog: Catalog, table: str) -> dict[date, set[int]]:
    """UTC day of `as_of` → the model versions whose scores of that day `table` holds (empty
    when the table does not exist yet)."""
    if not catalog.exists(table):
        return {}
    rows = catalog.scan(table).select(
        pl.col("as_of").dt.convert_time_zone("UTC").dt.date().alias("day"), "model_version"
    ).unique().collect()
    found: dict[date, set[int]] = {}
    for day, version in rows.iter_rows():
        found.setdefault(day, set()).add(version)
    return found


def scoring_plan(catalog: Catalog, spec: ModelSpec, version: int, *,
                 max_days: int = MAX_DAYS_PER_RUN, rescore_from: date | None = None,
                 now: datetime | None = None) -> ScoringPlan:
    """The days a batch-scoring run by `version` (the champion) scores, oldest first: each day
    after the last day `spec.predictions_table` holds scores of (by any version) up to the UTC
    day of `scoring_time`, that every point-in-time feature table holds a snapshot of; with
    nothing scored yet, only that last day. `rescore_from` (a UTC day): instead every such day
    from it (or from the first day every table holds a snapshot of) on that `version` has not
    scored (days another version scored are re-scored).
    Over `max_days` (>= 1) days, the oldest `max_days`. ValueError as `scoring_time`, or for
    `max_days` < 1."""
    if max_days < 1:
        raise ValueError(f"batch scoring of {spec.name}: max_days must be at least 1, "
                         f"got {max_days}")
    latest = scoring_time(catalog, spec, now)
    last = latest.astimezone(UTC).date()
    scored = scored_days(catalog, spec.predictions_table)
    if rescore_from is not None:
        first = rescore_from
    elif scored:
        first = max(scored) + timedelta(days=1)
    else:
        first = last
    tables = _snapshot_days(catalog, spec, latest)
    first = max(first, *(min(table, default=last) for table in tables))  # not before history
    eligible: dict[date, datetime] = {}
    missing = []
    for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
        if version in scored.get(day, set()):
            continue
        if day == last:
            eligible[day] = latest
        elif all(day in table for table in tables):
            eligible[day] = min(table[day] for table in tables)
        else:
            missing.append(day)
    days = sorted(eligible)
    return ScoringPlan({day: eligible[day] for day in days[:max_days]}, tuple(days[max_days:]),
                       tuple(missing), max(scored, default=None))
