"""`FeatureEngineeringClient`: the Databricks Feature Engineering API over this lakehouse.

Feature tables are Delta tables written and read through the Catalog; their keys live in the
catalog metadata. Accepts polars or pandas frames, returns polars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl
from deltalake.exceptions import DeltaError

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.frames import as_polars
from lakehouse_ml.features.functions import FeatureFunction, apply_functions
from lakehouse_ml.features.lookup import FeatureLookup, time_columns
from lakehouse_ml.features.online import (
    MAX_FUTURE_ROWS,
    KeyBatch,
    OnlineReader,
    OnlineStore,
    PublishReport,
    RedisStore,
    default_store,
    publish,
    rows_to_publish,
)
from lakehouse_ml.features.pit import LatestJoin, resolve
from lakehouse_ml.features.row_lookup import RowLookup
from lakehouse_ml.features.table import FeatureTable, load_table, table_info
from lakehouse_ml.features.timestamps import STORED, require_aware, utc_instant
from lakehouse_ml.features.training_set import Step, TrainingSet, build, output_columns
from lakehouse_ml.features.writes import prepare_rows
from lakehouse_ml.lake.predicates import between, from_until

DEFAULT_OWNER = "team:ml"


class FeatureEngineeringClient:
    def __init__(
        self, catalog: Catalog | None = None, online_store: OnlineStore | str | None = None
    ) -> None:
        """`online_store` is a store, a Redis URL, or None (REDIS_URL if set, else SQLite)."""
        self.catalog = catalog or Catalog.from_settings()
        if isinstance(online_store, str):
            online_store = RedisStore(online_store)
        self.online_store = online_store or default_store(self.catalog.root, self.catalog.env)
        self._online = OnlineReader(self.online_store)
        self._served: dict[tuple[str, int], FeatureTable] = {}
        self._joins: dict[tuple[object, ...], tuple[FeatureLookup, LatestJoin]] = {}

    def close(self) -> None:
        """Release the online store's connections."""
        self.online_store.close()

    # offline
    def create_table(
        self, name: str, primary_keys: str | Sequence[str], df: Any = None,
        timeseries_column: str | None = None, schema: Mapping[str, pl.DataType] | None = None,
        description: str | None = None, tags: Mapping[str, str] | None = None, *,
        feature_descriptions: Mapping[str, str] | None = None, owner: str = DEFAULT_OWNER,
        partition_columns: Sequence[str] | None = None,
    ) -> FeatureTable:
        """Create (or re-declare, with the same keys) a feature table, then write `df` if given.

        The timeseries column counts as a primary key, whether or not it is listed in
        `primary_keys`. `partition_columns` (applied when the table is created) store each of
        their values in its own files: a merge then rewrites only the partitions it touches.
        """
        keys = [primary_keys] if isinstance(primary_keys, str) else list(primary_keys)
        if timeseries_column is not None and timeseries_column not in keys:
            keys.append(timeseries_column)
        rows = None if df is None else as_polars(df, "df")
        if schema is None and rows is None:
            raise FeatureStoreError(f"create_table {name}: give df or schema")
        columns = dict(schema if schema is not None else rows.schema)
        missing = [k for k in [*keys, *(partition_columns or ())] if k not in columns]
        if missing:
            raise FeatureStoreError(f"create_table {name}: key or partition column(s) {missing} "
                                    "not in schema")
        if timeseries_column is not None:
            require_aware(pl.Schema(columns), timeseries_column, f"feature table {name}")
            columns[timeseries_column] = STORED
        if self.catalog.exists(name):
            self._refuse_redeclaration(self.get_table(name), keys, timeseries_column)
        self.catalog.create_table(name, pl.Schema(columns), table_info(
            owner=owner, primary_keys=keys, timeseries_column=timeseries_column,
            description=description, tags=tags, feature_descriptions=feature_descriptions,
        ), partition_by=partition_columns or ())
        if rows is not None:
            self.write_table(name, rows)
        return self.get_table(name)

    @staticmethod
    def _refuse_redeclaration(table: FeatureTable, keys: list[str], ts: str | None) -> None:
        if table.primary_keys != keys or table.timeseries_column != ts:
            raise FeatureStoreError(
                f"feature table {table.name} already exists with primary keys "
                f"{table.primary_keys} and timeseries column {table.timeseries_column!r}"
            )

    def write_table(
        self, name: str, df: Any, mode: Literal["merge", "overwrite"] = "merge"
    ) -> int:
        """Upsert rows on the primary keys (or replace the table); new columns are added.

        Returns the new Delta version (the current one when a merge has no rows to write).
        """
        table = self.get_table(name)
        rows = self._rows(table, df)
        if mode == "overwrite":
            return self.catalog.overwrite(table.name, rows, evolve=True)
        if mode != "merge":
            raise FeatureStoreError(f"write mode {mode!r}: use 'merge' or 'overwrite'")
        if rows.is_empty():  # nothing to upsert (e.g. the snapshots of an empty range)
            return table.version
        if table.version == 0:  # only the empty creation commit: nothing to merge with
            return self.catalog.append(table.name, rows, evolve=True)
        ts = table.timeseries_column
        # a row can only match stored rows of its own time (a primary key): delta-rs then
        # skips the files outside the written time range instead of reading the whole table
        span = None if ts is None else between(ts, rows[ts].min().isoformat(),
                                                rows[ts].max().isoformat(), alias="t")
        self.catalog.merge(table.name, rows, keys=table.primary_keys, evolve=True,
                           target_filter=span)
        return self.catalog.version(table.name)

    def replace_time_range(self, name: str, df: Any, start: datetime, end: datetime) -> int:
        """Replace every row stamped in `[start, end)` by the rows of `df` (a recomputation of
        those times: a stored row `df` lacks is removed), leaving the other times as they are.

        On a table partitioned by its timeseries column, delta-rs drops the files of those
        partitions and writes the new ones without reading the stored rows, where a merge
        joins them on the keys. Returns the new Delta version. Raises `FeatureStoreError`,
        writing nothing, if the table has no timeseries column or a row of `df` is stamped
        outside the range (`start`, `end`: aware datetimes)."""
        table = self.get_table(name)
        ts = table.timeseries_column
        if ts is None:
            raise FeatureStoreError(f"replace a time range of {table.name}: it has no "
                                    "timeseries column")
        rows = self._rows(table, df)
        low, high = (utc_instant(t, f"replace a time range of {table.name}")
                     for t in (start, end))
        outside = rows.filter((pl.col(ts) < low) | (pl.col(ts) >= high))
        if outside.height:
            raise FeatureStoreError(
                f"replace a time range of {table.name}: {outside.height} row(s) stamped outside "
                f"[{low.isoformat()}, {high.isoformat()}), e.g. {outside.row(0, named=True)}")
        return self.catalog.overwrite(table.name, rows, evolve=True,
                                      predicate=from_until(ts, low.isoformat(), high.isoformat()))

    @staticmethod
    def _rows(table: FeatureTable, df: Any) -> pl.DataFrame:
        """`df` checked and laid out for a write to `table` (`prepare_rows`), with every
        feature column."""
        rows = prepare_rows(
            as_polars(df, "df"), table.primary_keys, table.timeseries_column, table.name
        )
        missing = [f for f in table.feature_names if f not in rows.columns]
        if missing:
            raise FeatureStoreError(f"write to {table.name}: feature column(s) {missing} missing")
        return rows

    def read_table(
        self, name: str, as_of_version: int | None = None,
        as_of_timestamp: datetime | None = None,
    ) -> pl.DataFrame:
        if as_of_version is not None and as_of_timestamp is not None:
            raise FeatureStoreError("give as_of_version or as_of_timestamp, not both")
        version = as_of_version if as_of_version is not None else as_of_timestamp
        return self.catalog.read(name, version)

    def get_table(self, name: str) -> FeatureTable:
        return load_table(self.catalog, name)

    def create_training_set(
        self, df: Any, feature_lookups: Sequence[Step], label: str | None,
        exclude_columns: Sequence[str] | None = None, versions: Mapping[str, int] | None = None,
    ) -> TrainingSet:
        """Pin each table's current version (or the given `versions`) and check the lookups."""
        rows = as_polars(df, "df")
        return build(self.catalog, rows, feature_lookups, label, exclude_columns or (), versions)

    # online
    def publish_table(self, name: str, max_future_rows: int = MAX_FUTURE_ROWS) -> PublishReport:
        """Write what online lookups at or after now need: per key, its latest row stamped at
        or before now and every row stamped after it (only keys that changed). Raises
        `FeatureStoreError`, writing nothing, if a key has more than `max_future_rows` rows
        stamped after now."""
        table = self.get_table(name)
        keys, ts = table.entity_keys, table.timeseries_column

        def rows_at(version: int, at: datetime, only: pl.DataFrame | None = None
                    ) -> pl.DataFrame:
            return rows_to_publish(self.catalog.scan(table.name, version), keys, ts, at, only)

        def changed_keys(since: int) -> pl.DataFrame | None:
            try:
                added, removed, _ = self.catalog.changes(table.name, since, keys)
            except (OSError, DeltaError, pl.exceptions.PolarsError):
                return None  # the log no longer reaches `since`, or a removed file is vacuumed
            return pl.concat([added, removed])

        return publish(self.online_store, table.name, keys, ts, table.version, rows_at,
                       changed_keys, max_future_rows=max_future_rows, rows_of=rows_at)

    def get_online_features(self, name: str, keys: Any) -> pl.DataFrame:
        """Published rows for `keys` (frame, list of values/tuples/dicts), in order: each key's
        row as of now (its latest stamped at or before now). Unknown keys get nulls.

        Keys follow the offline rules (`features.keys`): a key of another type than the
        table's (`1.7`, `True` or `"1"` for an integer key, a Float64 column for an Int64 key)
        raises `KeyTypeError` naming the column. Needs SELECT (as a read of the table); its
        row filter and column masks apply.
        """
        table = self.catalog.check_read(name, "get_online_features")
        rows = self._online.rows(str(table), keys, datetime.now(UTC))
        return self.catalog.secure_rows(table, rows)

    def score_batch(self, model_uri: str, df: Any) -> pl.DataFrame:
        """Score rows of keys (and the time column) with a model logged with its features,
        which are looked up exactly as in training; adds `probability` and `prediction`.
        Needs EXECUTE on the registered model (PermissionDenied naming it otherwise), decided
        before an alias (`models:/<name>@<alias>`) is looked up in the registry: the same
        denial whether the model and its alias exist or not."""
        from lakehouse_ml.ml.artifacts import resolve
        from lakehouse_ml.ml.model_ref import InvalidModelRef, ModelRef
        from lakehouse_ml.ml.registry import tracking_client
        from lakehouse_ml.ml.scoring import score_batch  # ml builds on features, not back

        try:
            named = ModelRef.parse(model_uri) if model_uri.startswith("models:/") else None
        except InvalidModelRef:
            named = None  # not a registered version's URI: `resolve` says so
        if named is not None and named.alias is not None:
            self.catalog.see_model(named.name)
        self.catalog.check_model(*resolve(tracking_client(), model_uri))
        return score_batch(self, model_uri, as_polars(df, "df"))

    def lookup_online(self, df: Any, feature_lookups: Sequence[Step],
                      matched: list[tuple[str, pl.Series]] | None = None) -> pl.DataFrame:
        """Serving: `df` with its features from the online store, computed as in training.

        A lookup whose timestamp column is missing from a request is evaluated at now. If
        `matched` is given, it gets, per feature lookup (in order), its table name as the
        lookup gives it and whether each row found a feature row (a Boolean Series).
        """
        rows = as_polars(df, "df")
        times = [t for t in time_columns(feature_lookups) if t not in rows.columns]
        now = pl.lit(datetime.now(UTC), dtype=STORED)
        timed = rows.with_columns(now.alias(t) for t in times) if times else rows
        batches: dict[tuple[tuple[str, str], ...], KeyBatch] = {}
        read = [self._read_online(s, timed, batches) for s in feature_lookups
                if isinstance(s, FeatureLookup)]
        output_columns(rows, [join.resolved for join, _, _ in read], feature_lookups)
        found = [column for join, latest, _ in read for column in join(timed, latest)]
        if matched is not None:
            matched.extend((join.resolved.lookup.table_name,
                            join.matched(timed, latest, published))
                           for join, latest, published in read)
        functions = [s for s in feature_lookups if isinstance(s, FeatureFunction)]
        return apply_functions(rows.hstack(found), functions)

    def row_lookup(
        self, feature_lookups: Sequence[Step], keys: pl.Schema, needed: Sequence[str]
    ) -> RowLookup:
        """`lookup_online` for serving a few rows at a time: plain columns, only `needed`.
        Raises `RowLookupUnsupported` if a needed column's type needs `lookup_online`."""
        return RowLookup(self._online, self._table_at, lambda n: str(self.catalog.name(n)),
                         feature_lookups, keys, needed)

    def _read_online(
        self, step: FeatureLookup, rows: pl.DataFrame,
        batches: dict[tuple[tuple[str, str], ...], KeyBatch],
    ) -> tuple[LatestJoin, pl.DataFrame, list[bool]]:
        """How to join the lookup's features as of the table version its online rows were
        published from, those rows (one per request row) and whether any was published for
        each row's key. Tables keyed alike share one `KeyBatch`."""
        name = str(self.catalog.name(step.table_name))

        def keys(join: LatestJoin) -> KeyBatch:
            mapping = tuple(zip(step.lookup_keys, join.resolved.table.entity_keys, strict=True))
            if mapping not in batches:
                batches[mapping] = KeyBatch(rows.select(pl.col(c).alias(k) for c, k in mapping))
            return batches[mapping]

        join, snapshot, found = self._online.read_versioned(
            name, lambda version: self._latest_join(step, name, version, rows.schema), keys)
        time = step.timestamp_lookup_key
        return (join, snapshot.decode(found, None if time is None else rows[time]),
                [text is not None for text in found])

    def _latest_join(
        self, step: FeatureLookup, name: str, version: int, rows: pl.Schema
    ) -> LatestJoin:
        """The lookup checked against the rows and the table version, compiled once per
        (lookup, version, time type): the cache holds `step` itself, so its id stays unique."""
        resolved = resolve(step, self._table_at(name, version), rows)
        time = step.timestamp_lookup_key
        key = (id(step), name, version, rows[time] if time is not None else None)
        cached = self._joins.get(key)
        if cached is None or cached[0] is not step:
            cached = self._joins[key] = (step, LatestJoin.of(resolved, rows))
        return cached[1]

    def _table_at(self, name: str, version: int) -> FeatureTable:
        if (name, version) not in self._served:
            self._served[name, version] = load_table(self.catalog, name, version)
        return self._served[name, version]
