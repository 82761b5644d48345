"""The point-in-time join: for each row, the feature row it was allowed to see.

A row with key k and time t gets the feature row with key k and the greatest timestamp <= t,
and, under a lookback window w, only if t - timestamp <= w. Only the narrow key/time columns are
sorted and joined (`join_asof` by key, or on the folded (key, time) for one integer key): the
join yields an index into the feature rows, and the features are gathered by it at the end, so
wide feature tables are never sorted or hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import polars as pl

from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.keys import require_key_dtype
from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.features.table import FeatureTable
from lakehouse_ml.features.timestamps import finer, require_aware, utc

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

_ROW = "__lakehouse_row"
_MATCH = "__lakehouse_match"
_TIME = "__lakehouse_time"
_FOLD = "__lakehouse_fold"


@dataclass(frozen=True)
class ResolvedLookup:
    """A lookup checked against its table: the features it returns, under which names."""

    lookup: FeatureLookup
    table: FeatureTable
    features: list[str]

    @property
    def outputs(self) -> list[str]:
        return [self.lookup.output_name(f) for f in self.features]


def resolve(lookup: FeatureLookup, table: FeatureTable, rows: pl.Schema) -> ResolvedLookup:
    """Check a lookup against its table and the rows' schema before any data is read."""
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
    missing = [c for c in lookup.lookup_keys if c not in rows]
    if missing:
        raise FeatureStoreError(f"{where}: lookup key column(s) {missing} not in the rows")
    for column, key in zip(lookup.lookup_keys, table.entity_keys, strict=True):
        require_key_dtype(where, column, rows[column], key, table.schema[key])
    if lookup.timestamp_lookup_key is not None:
        if table.timeseries_column is None:
            raise FeatureStoreError(
                f"{where}: timestamp_lookup_key given, but the table has no timeseries column"
            )
        require_aware(rows, lookup.timestamp_lookup_key, f"{where}, rows")
    elif lookup.lookback_window is not None:
        raise FeatureStoreError(f"{where}: lookback_window needs a timestamp_lookup_key")
    return ResolvedLookup(lookup, table, features)


@dataclass(frozen=True)
class Joined:
    """A lookup's join: its output columns and, per row, the feature row it matched."""

    features: pl.DataFrame
    """The lookup's output columns, one row per row, in the rows' order."""
    matched: pl.Series
    """Boolean, per row: whether a feature row was found (defaults do not count)."""
    matched_at: pl.Series | None
    """Per row, the timeseries value (UTC) of the matched feature row, null where none; None
    when the table has no timeseries column."""


def join_matched(rows: pl.DataFrame, resolved: ResolvedLookup, source: pl.LazyFrame) -> Joined:
    """The lookup's output columns for `rows` (one row per row, in the same order), with which
    feature row (and timestamp) each row matched."""
    lookup, table = resolved.lookup, resolved.table
    keys, ts = table.entity_keys, table.timeseries_column
    probe = rows.select(
        pl.col(c).alias(k) for c, k in zip(lookup.lookup_keys, keys, strict=True)
    ).with_row_index(_ROW)
    columns = [*keys, *([ts] if ts else []), *resolved.features]
    if lookup.timestamp_lookup_key is not None and ts is not None:
        unit = finer(rows.schema[lookup.timestamp_lookup_key], table.schema[ts])
        time = rows.select(utc(lookup.timestamp_lookup_key, unit)).to_series()
        probe = probe.with_columns(time.alias(_TIME))
        window = lookup.lookback_window
        bounds = [*_key_bounds(probe, keys), *_time_bounds(probe, ts, window)]
        found = source.select(columns).filter(*bounds).collect()
        matches = _asof_matches(probe, found, keys, ts, unit, window)
    else:
        found = source.select(columns).filter(*_key_bounds(probe, keys)).collect()
        candidates = found.select(*keys, *([ts] if ts else [])).with_row_index(_MATCH)
        if ts is not None:
            candidates = latest(candidates, keys, ts)
        matches = probe.join(candidates, on=keys, how="left", maintain_order="left")
    gathered = [*resolved.features, *([ts] if ts else [])]
    joined = (
        found.select(pl.col(gathered).gather(matches[_MATCH]))
        .with_columns(matches[_ROW], matches[_MATCH].is_not_null().alias(_MATCH))
        .sort(_ROW)
    )
    matched_at = joined.select(pl.col(ts).dt.convert_time_zone("UTC")).to_series() if ts else None
    return Joined(joined.select(_output_exprs(resolved)), joined[_MATCH], matched_at)


def _output_exprs(resolved: ResolvedLookup, valid: pl.Expr | None = None) -> list[pl.Expr]:
    """Each feature (null where the match is not `valid`), defaults filled in, renamed."""
    lookup = resolved.lookup
    defaults = lookup.default_values or {}
    exprs = []
    for feature in resolved.features:
        value = pl.col(feature) if valid is None else pl.when(valid).then(pl.col(feature))
        if feature in defaults:
            value = value.fill_null(defaults[feature])
        exprs.append(value.alias(lookup.output_name(feature)))
    return exprs


@dataclass(frozen=True)
class LatestJoin:
    """`join_matched` when the source holds the latest row of each row's key, row by row, as
    online lookups read it: the same time rules (nothing after the request time, nothing older
    than the lookback window) without a join. Its expressions are built once per lookup and
    table version, not per request: building them costs more than evaluating them on a row."""

    resolved: ResolvedLookup
    time: str | None
    """The rows' time column, if the lookup is point in time."""
    outputs: list[pl.Expr]
    valid: pl.Expr | None
    """Whether a row's feature row is in its time rules, if the lookup is point in time."""

    @classmethod
    def of(cls, resolved: ResolvedLookup, rows: pl.Schema) -> LatestJoin:
        lookup, table = resolved.lookup, resolved.table
        time, ts = lookup.timestamp_lookup_key, table.timeseries_column
        if time is None or ts is None:
            return cls(resolved, None, _output_exprs(resolved), None)
        unit = finer(rows[time], table.schema[ts])
        stamp, now = utc(ts, unit), utc(_TIME, unit)
        valid = stamp <= now
        if lookup.lookback_window is not None:
            valid = valid & (now - stamp <= lookup.lookback_window)
        return cls(resolved, time, _output_exprs(resolved, valid), valid.fill_null(False))

    def _timed(self, rows: pl.DataFrame, latest: pl.DataFrame) -> pl.DataFrame:
        if self.time is None:
            return latest
        return latest.with_columns(rows.get_column(self.time).alias(_TIME))

    def __call__(self, rows: pl.DataFrame, latest: pl.DataFrame) -> pl.DataFrame:
        """The lookup's output columns; `latest` holds the feature row of each of `rows`."""
        return self._timed(rows, latest).select(self.outputs)

    def matched(self, rows: pl.DataFrame, latest: pl.DataFrame, published: list[bool]
                ) -> pl.Series:
        """Per row of `rows`, whether it matched a feature row: one was `published` for its
        key and, if the lookup is point in time, its row in `latest` is stamped at or before
        the row's time, within the lookback window (Boolean, one per row)."""
        if self.valid is None:
            return pl.Series(published, dtype=pl.Boolean)
        return self._timed(rows, latest).select(self.valid).to_series()


def latest(frame: Frame, keys: Sequence[str], ts: str) -> Frame:
    """The row with the greatest timestamp for each key (eager or lazy)."""
    return frame.filter(pl.col(ts) == pl.col(ts).max().over(keys))


def latest_of_table(scan: pl.LazyFrame, keys: Sequence[str], ts: str) -> pl.DataFrame:
    """`latest` of a whole table, reading full rows only where one can be: the newest time
    per key comes from the key and time columns alone, and files older than the oldest of
    those are skipped by their statistics (a daily snapshot table keeps its latest rows in
    its newest files: 20x less read for a 13M-row table)."""
    newest = scan.select(*keys, ts).group_by(keys).agg(pl.col(ts).max()).collect()
    if newest.is_empty():
        return scan.head(0).collect()
    return (
        scan.filter(pl.col(ts) >= newest[ts].min())
        .join(newest.lazy(), on=[*keys, ts], how="semi")
        .collect()
    )


def _asof_matches(
    probe: pl.DataFrame, found: pl.DataFrame, keys: list[str], ts: str, unit: str,
    window: timedelta | None,
) -> pl.DataFrame:
    """(_ROW, _MATCH) pairs in join order, which follows the table's order when it is sorted,
    so that gathering features by _MATCH reads memory sequentially."""
    stored = found.select(*keys, utc(ts, unit))
    if len(keys) == 1 and probe.schema[keys[0]].is_integer():
        matched = _asof_folded(probe, stored, keys[0], ts)
    else:
        matched = _asof_by_key(probe, stored, keys, ts)
    hit = stored.select(pl.all().gather(matched[_MATCH]))
    valid = pl.all_horizontal(hit[k] == matched[k] for k in keys)
    if window is not None:
        valid = valid & (matched[_TIME] - hit[ts] <= window)
    return matched.select(_ROW, pl.when(valid).then(pl.col(_MATCH)).alias(_MATCH))


def _asof_by_key(
    probe: pl.DataFrame, stored: pl.DataFrame, keys: list[str], ts: str
) -> pl.DataFrame:
    order = [*keys, ts]
    right = stored.with_row_index(_MATCH)
    if not is_sorted(right, order):
        right = right.sort(order)
    return probe.sort([*keys, _TIME]).join_asof(
        right.select(*keys, ts, _MATCH), left_on=_TIME, right_on=ts, by=keys,
        strategy="backward", check_sortedness=False,
    )


def _fold(key: str, time: str) -> pl.Expr:
    """(integer key, time) as one Int128 ordered like the pair: the key in the high 64 bits."""
    offset = pl.col(time).to_physical().cast(pl.Int128) + 2**63
    return pl.col(key).cast(pl.Int128) * 2**64 + offset


def _asof_folded(probe: pl.DataFrame, stored: pl.DataFrame, key: str, ts: str) -> pl.DataFrame:
    """The same join for one integer key, several times faster: an as-of join on the folded
    (key, time) needs no grouping by key. It may land on a smaller key's row, which the
    caller's key check rejects."""
    right = stored.select(_fold(key, ts).alias(_FOLD)).with_row_index(_MATCH)
    if not right[_FOLD].is_sorted():
        right = right.sort(_FOLD)
    left = probe.with_columns(_fold(key, _TIME).alias(_FOLD)).sort(_FOLD)
    return left.join_asof(right, on=_FOLD, strategy="backward", check_sortedness=False)


def is_sorted(frame: pl.DataFrame, columns: Sequence[str]) -> bool:
    """Whether rows are in ascending lexicographic order of `columns` (one pass, no sort)."""
    ascending = pl.lit(True)
    for column in reversed(columns):
        previous = pl.col(column).shift(1)
        ascending = (pl.col(column) > previous) | ((pl.col(column) == previous) & ascending)
    return bool(frame.select(ascending.fill_null(True).all()).item())


def _orderable(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype.is_temporal() or dtype == pl.String


def _key_bounds(probe: pl.DataFrame, keys: list[str]) -> list[pl.Expr]:
    """Key ranges of the rows: lets the Delta scan skip files and row groups of other keys."""
    bounds = []
    for key in keys:
        low, high = probe[key].min(), probe[key].max()
        if _orderable(probe.schema[key]) and low is not None:
            bounds.append(pl.col(key).is_between(pl.lit(low), pl.lit(high)))
    return bounds


def _time_bounds(probe: pl.DataFrame, ts: str, window: timedelta | None) -> list[pl.Expr]:
    """No row after the latest request time (or before the earliest minus the window) matches."""
    first, last = probe[_TIME].min(), probe[_TIME].max()
    if last is None:
        return []
    bounds = [pl.col(ts) <= last]
    if window is not None:
        bounds.append(pl.col(ts) >= first - window)
    return bounds
