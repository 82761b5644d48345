"""Refresh a monitor: compute the windows the monitored table's changes touched and replace
them in `monitoring.<schema>_<table>_profile_metrics` and `..._drift_metrics`.

Incremental: the profile table remembers the monitored table's version each row was computed
from (`logging_table_commit_version`); the next refresh reads only the data files the commits
since that version added or removed (their timestamps name the touched windows, late rows
included), recomputes those windows, and the CONSECUTIVE drift of the window after each (it
compares with a touched window). The rows read are the touched windows and their neighbours:
the cost follows the change, not the history. For an inference log whose labels arrive in
another table, the label rows added or removed since the label version the last refresh read
touch the windows of the scored rows they can label (their time ± the join's tolerance).
A first refresh, `full=True`, or a version whose files are gone (vacuumed) recomputes every
window.

Drift rows (see `monitoring.drift.drift_rows`): CONSECUTIVE, each window against the window
just before it (start − granularity) of the same slice, when that window has rows; BASELINE,
each window against the baseline's rows of the same slice (whole baseline for the whole-table
rows; a slicing expression the baseline cannot evaluate gives no BASELINE rows for it);
`window_cmp` of BASELINE rows is NULL. A snapshot's CONSECUTIVE drift compares it with the
snapshot profiled before it (the table at the version that one read).

`model_id` is NULL on every row: an inference log's rows of all model versions are profiled
together (each day of batch scores holds one version; `model_version` is not profiled).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property

import numpy as np
import polars as pl
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.monitoring import metric_tables as tables
from lakehouse_ml.monitoring.baseline import (
    BaselineFrame,
    TrainingSetUnreadable,
    baseline_frame,
)
from lakehouse_ml.monitoring.cbpe import CBPE, champion_estimator
from lakehouse_ml.monitoring.drift import Prepared, drift_rows, prepare
from lakehouse_ml.monitoring.pii import digest, hashed, pii_of, reveals_pii
from lakehouse_ml.monitoring.profile import (
    GROUP,
    Kind,
    column_groups,
    group_layout,
    profile,
    profiled_columns,
)
from lakehouse_ml.monitoring.quality import fairness_columns, quality_columns, with_labels
from lakehouse_ml.monitoring.schema import (
    BASELINE,
    CONSECUTIVE,
    DRIFT_METRICS,
    PROFILE_METRICS,
    QUALITY,
    TABLE_LEVEL,
    UTC_TIME,
)
from lakehouse_ml.monitoring.spec import Monitor
from lakehouse_ml.monitoring.windows import (
    EARLIEST,
    END,
    LATEST,
    SLICE_KEY,
    SLICE_VALUE,
    START,
    MonitorError,
    assign_windows,
    granularity_label,
    missing_columns,
    placeable,
    slice_of,
    sliced,
    time_of,
    utc_time,
    window_start,
    window_struct,
)

Window = tuple[datetime, datetime]
MAX_SLICE_VALUES = 100
"""Distinct values of one slicing expression in one window (or the baseline) that are sliced:
a window with more gets no slices of that expression (each would be a profile and drift row
per column), and the refresh's notes say so."""
MAX_FAILURE = 200
MAX_CHUNK_WINDOWS = 31
"""Windows computed at once: a refresh over more (a first or full refresh of years of
history, a large late backfill) computes them in chunks of this many, oldest first, each
read, computed and written before the next, so its memory follows a chunk (and its two
neighbouring windows), not the history."""
"""Characters of an error's first line quoted in a failed slice's reason."""


@dataclass(frozen=True)
class RefreshResult:
    monitor: Monitor
    windows: list[tuple[datetime, datetime]]
    """The windows whose profile rows were (re)computed, in time order."""
    profile_rows: int
    drift_rows: int
    table_version: int
    """The monitored table's version read (-1 when the table does not exist)."""
    skipped_columns: dict[str, str] = field(default_factory=dict)
    """Columns not profiled → why (unsupported type, not in the table)."""
    notes: tuple[str, ...] = ()
    """What else the refresh has to say: an empty table, no baseline yet, a full recompute
    and why."""
    full: bool = False
    """Every window was recomputed."""
    failed_slices: dict[str, str] = field(default_factory=dict)
    """Slicing expressions left out → why (a column they name is not in the table); the
    whole table and the other slices are computed."""
    chunks: int = 1
    """How many chunks of at most `max_chunk_windows` windows were computed one after the
    other."""
    max_rows_read: int = 0
    """The most rows of the monitored table held at once (one chunk's windows and their
    neighbours)."""


@dataclass(frozen=True)
class _Touched:
    starts: set[datetime]
    full: bool
    notes: tuple[str, ...] = ()


def _placed(frame: pl.LazyFrame, monitor: Monitor, schema: pl.Schema, what: str
            ) -> tuple[set[datetime], tuple[str, ...]]:
    """Window starts of `frame`'s rows, and a note counting `what` rows in no window (NULL
    timestamp, or outside EARLIEST..LATEST): never dropped silently."""
    time = time_of(monitor, schema)
    found = frame.select(
        window_start(time, monitor.granularity).filter(placeable(time)).unique().implode()
        .alias(START),
        time.is_null().sum().alias("nulls"),
        (time.is_not_null() & ~placeable(time)).sum().alias("outside"),
    ).collect().row(0, named=True)
    column = monitor.timestamp_col
    unplaced = [f"{found['nulls']} with a NULL {column}" if found["nulls"] else "",
                f"{found['outside']} with {column} before {EARLIEST.date()} or from "
                f"{LATEST.date()} on" if found["outside"] else ""]
    note = (f"{' and '.join(u for u in unplaced if u)} of the {what} rows of {monitor.table}"
            " are in no window (not profiled)")
    return set(found[START]), (note,) if any(unplaced) else ()


def _all_starts(catalog: Catalog, monitor: Monitor, version: int
                ) -> tuple[set[datetime], tuple[str, ...]]:
    scan = catalog.scan(monitor.table, version)
    return _placed(scan, monitor, scan.collect_schema(), "table's")


def _changed_starts(catalog: Catalog, monitor: Monitor, since: int
                    ) -> tuple[set[datetime], tuple[str, ...]]:
    """Windows of the rows the commits after `since` added or removed (a note counting the
    added rows in no window)."""
    column = str(monitor.timestamp_col)
    added, removed, _ = catalog.changes(monitor.table, since, [column])
    starts, notes = _placed(added.lazy(), monitor, added.schema, "added")
    return starts | _placed(removed.lazy(), monitor, removed.schema, "removed")[0], notes


def _label_starts(catalog: Catalog, monitor: Monitor) -> tuple[set[datetime], int | None]:
    """Windows the label rows changed since the last refresh can label, and the label
    table's current version (None without a label table)."""
    spec = monitor.inference_log
    join = spec.labels if spec else None
    if join is None or not catalog.exists(join.table):
        return set(), None
    current = catalog.version(join.table)
    since = tables.labels_version(catalog, monitor)
    if since == current:
        return set(), current
    if since is None or since > current:  # never read (or recreated): every label is new
        changed = catalog.read(join.table, current, [join.time_column])
    else:
        added, removed, current = catalog.changes(join.table, since, [join.time_column])
        changed = pl.concat([added, removed])
    times = changed.select(
        utc_time(join.time_column, changed.schema[join.time_column], f"labels {join.table}")
        .alias("t")).filter(placeable(pl.col("t")))
    step = monitor.granularity
    first = times.select(window_start(pl.col("t") - join.tolerance, step)).to_series()
    last = times.select(window_start(pl.col("t") + join.tolerance, step)).to_series()
    starts: set[datetime] = set()
    for low, high in zip(first.to_list(), last.to_list(), strict=True):
        while low <= high:
            starts.add(low)
            low += step
    return starts, current


def _touched(catalog: Catalog, monitor: Monitor, version: int, full: bool,
             label_starts: set[datetime]) -> _Touched:
    previous = tables.last_version(catalog, monitor)
    if full or previous is None or previous > version:
        why = ("full refresh asked" if full else "first refresh" if previous is None
               else f"the table is at version {version}, before the {previous} last read "
               "(recreated)")
        starts, notes = _all_starts(catalog, monitor, version)
        return _Touched(starts, True, (f"{why}: every window", *notes))
    if previous == version:
        return _Touched(set(label_starts), False)
    try:
        starts, notes = _changed_starts(catalog, monitor, previous)
    except (OSError, ValueError, pl.exceptions.PolarsError) as error:
        note = (f"the changes since version {previous} cannot be read ({type(error).__name__}:"
                f" {error}): every window recomputed")
        starts, notes = _all_starts(catalog, monitor, version)
        return _Touched(starts, True, (note, *notes))
    return _Touched(starts | label_starts, False, notes)


def _rows_of(catalog: Catalog, monitor: Monitor, version: int, starts: set[datetime]
             ) -> pl.LazyFrame:
    """The monitored table's rows in the windows starting at `starts`, as a lazy scan whose
    time range lets Delta skip files outside it."""
    scan = catalog.scan(monitor.table, version)
    time = time_of(monitor, scan.collect_schema())
    low, high = min(starts), max(starts) + monitor.granularity
    start = window_start(time, monitor.granularity)
    return scan.filter(time >= low, time < high, start.is_in(sorted(starts)))


def _commit_time(catalog: Catalog, table: str, version: int) -> datetime:
    """When `version` was committed: the newest entries first (the version just read is
    the latest unless a writer committed since)."""
    for limit in (1, None):
        for entry in catalog.history(table, limit):
            if entry.get("version") == version:
                return datetime.fromtimestamp(entry["timestamp"] / 1000, tz=UTC)
    raise MonitorError(f"{table}: no commit information for version {version}")


def _group_keys(frame: pl.DataFrame) -> Iterable[tuple[tuple, pl.DataFrame]]:
    yield from frame.partition_by(GROUP, as_dict=True, maintain_order=True).items()


def _quality(monitor: Monitor, frame: pl.DataFrame, estimator: CBPE | None) -> pl.DataFrame:
    """QUALITY columns per (window, slice) of rows carrying `label`; fairness columns for
    slices of boolean expressions."""
    spec = monitor.inference_log
    assert spec is not None
    boolean = {expression for expression in monitor.slicing_exprs
               if frame.select(pl.col(SLICE_VALUE).filter(pl.col(SLICE_KEY) == expression)
                               .drop_nulls().is_in(["true", "false"]).all()).item()}
    rows = []
    by_window = {key: part for key, part in frame.filter(pl.col(SLICE_KEY).is_null())
                 .partition_by(START, as_dict=True).items()}
    for key, part in _group_keys(frame):
        values: dict = dict(zip(GROUP, key, strict=True))
        values |= quality_columns(part, spec, estimator)
        if key[2] in boolean and key[3] is not None:
            whole = by_window[(key[0],)]
            member = whole.select(_slice_member(key[2], key[3])).to_series()
            values |= fairness_columns(whole, member, spec)
        rows.append(values)
    schema = {**{c: frame.schema[c] for c in GROUP}, **QUALITY}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _slice_member(expression: str, value: str) -> pl.Expr:
    return pl.sql_expr(expression).cast(pl.String) == value


def _finish_profile(rows: pl.DataFrame, quality: pl.DataFrame | None, monitor: Monitor,
                    version: int) -> pl.DataFrame:
    if quality is not None:
        table = (rows.filter(pl.col("column_name") == TABLE_LEVEL).drop(QUALITY)
                 .join(quality, on=GROUP, how="left", nulls_equal=True))
        rows = pl.concat([table.select(rows.columns),
                          rows.filter(pl.col("column_name") != TABLE_LEVEL)])
    return rows.select(
        window_struct(pl.col(START), pl.col(END)).alias("window"),
        pl.lit(granularity_label(monitor.granularity)).alias("granularity"),
        pl.lit(None, pl.String).alias("model_id"),
        SLICE_KEY, SLICE_VALUE, "column_name",
        *(c for c in rows.columns if c not in (*GROUP, "column_name")
          and c != "logging_table_commit_version"),
        pl.lit(version, pl.Int64).alias("logging_table_commit_version"),
    ).select(PROFILE_METRICS.names()).sort("window", SLICE_KEY, SLICE_VALUE, "column_name",
                                           nulls_last=False)


class _Groups:
    """The rows of each (window, slice) group of a chunk, each `prepare`d once when first
    needed: its numeric columns sorted once for the profile, the drift against the window
    before, as the window before of the one after, and against the baseline."""

    def __init__(self, rows: Mapping[tuple, pl.DataFrame], categorical: Mapping[str, bool]
                 ) -> None:
        self.rows, self.categorical = rows, categorical
        self._prepared: dict[tuple, Prepared] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def side(self, key: tuple) -> Prepared:
        if key not in self._prepared:
            self._prepared[key] = prepare(self.rows[key], self.categorical)
        return self._prepared[key]

    def sorted_column(self, key: tuple, column: str) -> np.ndarray | None:
        return self.side(key).sorted_column(column) if key in self.rows else None


def _drift(current: _Groups, previous_of: Mapping[datetime, Window], monitor: Monitor,
           categorical: Mapping[str, bool], baseline: Callable[[tuple], Prepared | None]
           ) -> pl.DataFrame:
    """Drift rows of the windows starting at the keys of `previous_of` (each mapped to the
    window its CONSECUTIVE drift compares with, None for none): `current` holds the groups'
    rows; `baseline`: a slice's prepared baseline rows, or None."""
    step = monitor.granularity
    side = current.side
    parts, keys = [], []
    for key in current.rows:
        start, end, slice_key, slice_value = key
        if start not in previous_of:
            continue
        compare = []
        window_before = previous_of[start]
        before = (*window_before, slice_key, slice_value) if window_before else None
        if before in current:
            compare.append((CONSECUTIVE, side(before), window_before))
        reference = baseline((slice_key, slice_value))
        if reference is not None:
            compare.append((BASELINE, reference, (None, None)))
        for drift_type, other, window_cmp in compare:
            parts.append(drift_rows(side(key), other, categorical))
            keys.append((*key, drift_type, *window_cmp))
    if not parts:
        return pl.DataFrame(schema=DRIFT_METRICS)
    # each comparison's key columns, built once and repeated over its rows
    key_schema = {START: UTC_TIME, END: UTC_TIME, SLICE_KEY: pl.String, SLICE_VALUE: pl.String,
                  "drift_type": pl.String, "_cmp_start": UTC_TIME, "_cmp_end": UTC_TIME}
    repeat = np.repeat(np.arange(len(parts)), [part.height for part in parts])
    rows = pl.concat(parts).hstack(
        pl.DataFrame(keys, schema=key_schema, orient="row")[repeat].get_columns())
    window_cmp = pl.when(pl.col("_cmp_start").is_not_null()).then(
        window_struct(pl.col("_cmp_start"), pl.col("_cmp_end")))
    return rows.with_columns(
        window_struct(pl.col(START), pl.col(END)).alias("window"),
        window_cmp.alias("window_cmp"),
        pl.lit(granularity_label(step)).alias("granularity"),
        pl.lit(None, pl.String).alias("model_id"),
    ).select(*(pl.col(c).cast(t) for c, t in DRIFT_METRICS.items())).sort(
        "window", "drift_type", SLICE_KEY, SLICE_VALUE, "column_name", nulls_last=False)


def _unmatched(current: Mapping[tuple, pl.DataFrame], windows: Collection[datetime],
               baseline: Mapping[tuple, pl.DataFrame]) -> list[str]:
    """Per slicing expression, how many of its slices in `windows` have no rows in the
    baseline (so no BASELINE drift): counted, values not named (they may be pii)."""
    missing: dict[str, int] = {}
    for start, _, slice_key, slice_value in current:
        if start in windows and (slice_key, slice_value) not in baseline:
            key = "the whole table" if slice_key is None else f"slicing expression {slice_key!r}"
            missing[key] = missing.get(key, 0) + 1
    return [f"{count} (window, slice) pairs of {key} have no baseline rows: no BASELINE "
            "drift for them" for key, count in missing.items()]


def _baseline_slices(monitor: Monitor, base: BaselineFrame | None,
                     notes: list[str]) -> dict[tuple, pl.DataFrame]:
    if base is None:
        return {}
    if base.frame.is_empty():
        notes.append(f"baseline {base.table}@{base.version} has no rows: no BASELINE drift")
        return {}
    out: dict[tuple, pl.DataFrame] = {}
    for slice_key, frame in sliced(base.frame.lazy(), monitor):
        try:
            rows = frame.collect()
        except pl.exceptions.PolarsError as error:
            notes.append(f"baseline {base.table}@{base.version} has no slice {slice_key!r} "
                         f"({type(error).__name__}): no BASELINE drift for it")
            continue
        if slice_key is not None and rows[SLICE_VALUE].n_unique() > MAX_SLICE_VALUES:
            notes.append(f"baseline {base.table}@{base.version}: slicing expression "
                         f"{slice_key!r} has {rows[SLICE_VALUE].n_unique()} distinct values "
                         f"(at most {MAX_SLICE_VALUES} are sliced): no BASELINE drift for it")
            continue
        for (value,), part in rows.partition_by(SLICE_VALUE, as_dict=True).items():
            out[(slice_key, value)] = part
    return out


def _baseline(catalog: Catalog, monitor: Monitor, client: MlflowClient | None,
              notes: list[str]) -> BaselineFrame | None:
    if monitor.baseline is None:
        return None
    try:
        found = baseline_frame(catalog, monitor.baseline, client=client)
    except TrainingSetUnreadable as error:
        notes.append(f"baseline {monitor.baseline} cannot be read: {error}: CONSECUTIVE "
                     "drift only")
        return None
    if found is None:
        notes.append(f"no baseline yet ({monitor.baseline}): CONSECUTIVE drift only")
    return found


def _estimator(catalog: Catalog, monitor: Monitor, client: MlflowClient | None,
               notes: list[str]) -> CBPE | None:
    model = monitor.inference_log.model if monitor.inference_log else None
    if model is None:
        return None
    estimator = champion_estimator(catalog, model, client=client)
    if estimator is None:
        notes.append(f"no label-free estimate: model {model!r} has no usable champion")
    return estimator


def _unused_declarations(monitor: Monitor, profiled: Collection[str]) -> list[str]:
    """A note naming the thresholds and categorical declarations of columns the monitor does
    not profile (a typo would otherwise never flag anything)."""
    unused = {label: sorted(set(names) - set(profiled)) for label, names in (
        ("thresholds", monitor.thresholds), ("categorical", monitor.categorical))}
    named = [f"{label} for {', '.join(map(repr, names))}" for label, names in unused.items()
             if names]
    return ([f"declared for columns not profiled (not in the table, excluded or of a type "
             f"that cannot be profiled): {'; '.join(named)}"] if named else [])


class _Shared:
    """What every chunk of one refresh compares with, read once when first needed: the
    baseline's rows per slice (each slice's columns of one column group `prepare`d once for
    every window of a chunk, then released) and the label-free estimator."""

    def __init__(self, catalog: Catalog, monitor: Monitor, client: MlflowClient | None,
                 notes: list[str]) -> None:
        self.catalog, self.monitor, self.client, self.notes = catalog, monitor, client, notes
        self._prepared: dict[tuple, Prepared] = {}
        self._columns: Mapping[str, bool] = {}

    def use_columns(self, categorical: Mapping[str, bool]) -> None:
        """Compare the columns of `categorical` (a column group) from now on: the baseline
        prepared for the group before is released."""
        self._prepared, self._columns = {}, categorical

    def prepared_baseline(self, key: tuple) -> Prepared | None:
        """The baseline's rows of the slice `key` (slice_key, slice_value), the group's
        columns prepared once."""
        if key not in self._prepared:
            rows = self.baseline.get(key)
            if rows is None:
                return None
            self._prepared[key] = prepare(rows, self._columns)
        return self._prepared[key]

    @cached_property
    def baseline(self) -> dict[tuple, pl.DataFrame]:
        return _baseline_slices(self.monitor, _baseline(self.catalog, self.monitor, self.client,
                                                        self.notes), self.notes)

    @cached_property
    def estimator(self) -> CBPE | None:
        return _estimator(self.catalog, self.monitor, self.client, self.notes)


def refresh(catalog: Catalog, monitor: Monitor, *, now: datetime | None = None,
            full: bool = False, client: MlflowClient | None = None,
            max_chunk_windows: int = MAX_CHUNK_WINDOWS) -> RefreshResult:
    """Compute the windows the monitored table's changes since the last refresh touch (all
    when `full` or the first time), replace them in both metric tables; idempotent.

    `now`: a snapshot monitor's window (start = end = `now`); default the commit time of the
    table version read, so refreshing an unchanged table replaces the same window. Ignored by
    time-series and inference-log monitors, whose windows come from their timestamps.
    `client`: the MLflow client for the baseline and the label-free estimate (default:
    MLflow's current tracking URI). `max_chunk_windows`: windows computed at once (more are
    computed in chunks, oldest first, each written before the next: memory follows a chunk,
    not the history; the notes say how many chunks).

    Never fails for the data's content: unsupported columns are skipped (`skipped_columns`),
    an empty or missing table gives zero windows, rows without a placeable timestamp are
    counted, a slicing expression over MAX_SLICE_VALUES values is not sliced, one that cannot
    be evaluated on the rows (a column it names is missing, not valid SQL) is left out
    (`failed_slices`) while the rest is computed, labels that cannot be used (wrong type,
    conflicting, not a label) give no realized quality for them (`notes` says so each time).
    MonitorError for a monitor its table cannot satisfy (missing or mistyped timestamp).
    PermissionDenied (audited) without MODIFY on both metric tables, checked before anything
    is computed."""
    if not catalog.exists(monitor.table):
        return RefreshResult(monitor, [], 0, 0, -1,
                             notes=(f"{monitor.table} does not exist yet: zero windows",))
    tables.ensure_tables(catalog, monitor)
    for table in (monitor.profile_metrics_table, monitor.drift_metrics_table):
        # before anything is read or computed: a principal who may not write the results is
        # told at once (the denial is audited), not after the whole computation
        catalog.check_write(table, "refresh", audited=False)
    version = catalog.version(monitor.table)
    schema = catalog.scan(monitor.table, version).collect_schema()
    kinds, categorical, skipped = profiled_columns(schema, monitor)
    notes: list[str] = _unused_declarations(monitor, kinds)
    try:
        label_starts, label_version = _label_starts(catalog, monitor)
    except ValueError as error:  # labels whose time column has the wrong type
        notes.append(f"label changes not read: {error}")
        label_starts, label_version = set(), None
    previous_of: dict[datetime, Window | None] | None = None
    if monitor.profile_type == "snapshot":
        changed = full or tables.last_version(catalog, monitor) != version
        moment = now or _commit_time(catalog, monitor.table, version)
        touched = _Touched({moment} if changed else set(), full)
        rows = (assign_windows(catalog.scan(monitor.table, version), monitor, schema, moment)
                if changed else None)
        before = tables.previous_snapshot(catalog, monitor, moment) if changed else None
        previous_of = {moment: (before[0], before[0]) if before else None}
        if rows is not None and before is not None:
            try:
                earlier = catalog.read(monitor.table, before[1])
            except Exception as error:  # a version vacuumed or its log cleaned up
                notes.append(f"the snapshot of version {before[1]} cannot be read "
                             f"({type(error).__name__}): no CONSECUTIVE drift")
                previous_of = {moment: None}
            else:
                rows = pl.concat([rows, assign_windows(earlier.lazy(), monitor, earlier.schema,
                                                       before[0])], how="diagonal_relaxed")
    else:
        touched = _touched(catalog, monitor, version, full, label_starts)
    notes.extend(touched.notes)
    failed: dict[str, str] = {}
    shared = _Shared(catalog, monitor, client, notes)
    if previous_of is not None:  # a snapshot: one window
        chunks = [(touched.starts, rows)]
    else:
        if max_chunk_windows < 1:
            raise ValueError(f"max_chunk_windows must be at least 1, got {max_chunk_windows}")
        ordered = sorted(touched.starts)
        chunks = [(set(ordered[i:i + max_chunk_windows]),
                   _neighbourhood(catalog, monitor, version, schema,
                                  ordered[i:i + max_chunk_windows]))
                  for i in range(0, len(ordered), max_chunk_windows)] or [(set(), None)]
        if len(chunks) > 1:
            notes.append(f"{len(ordered)} windows computed in {len(chunks)} chunks of at most "
                         f"{max_chunk_windows} (each written before the next is read)")
    windows: list[Window] = []
    profile_rows = drift_rows_written = most = 0
    for index, (starts, chunk_rows) in enumerate(chunks):
        result = _compute(catalog, monitor, chunk_rows, starts, touched.full and index == 0,
                          kinds, categorical, version, shared, notes,
                          previous_of or _consecutive(monitor, starts, touched.starts), failed)
        windows += result[0]
        profile_rows, drift_rows_written = profile_rows + result[1], drift_rows_written + result[2]
        most = max(most, result[3])
    if label_version is not None:
        tables.record_labels_version(catalog, monitor, label_version)
    return RefreshResult(monitor, windows, profile_rows, drift_rows_written, version, skipped,
                         tuple(notes), touched.full, failed, len(chunks), most)


def _consecutive(monitor: Monitor, starts: Collection[datetime],
                 touched: Collection[datetime]) -> dict[datetime, Window | None]:
    """The windows of a time series whose drift a chunk computes → the window before: its
    `starts`, and the window after each (it compares with a recomputed window) unless
    another chunk of the refresh computes that one."""
    step = monitor.granularity
    after = {s + step for s in starts} - (set(touched) - set(starts))
    return {s: (s - step, s) for s in {*starts, *after}}


def _neighbourhood(catalog: Catalog, monitor: Monitor, version: int, schema: pl.Schema,
                   starts: Collection[datetime]) -> pl.LazyFrame:
    """The rows of the windows starting at `starts` and of the windows either side of each
    (CONSECUTIVE drift compares with them), windows assigned."""
    step = monitor.granularity
    around = {s + d for s in starts for d in (-step, timedelta(0), step)}
    return assign_windows(_rows_of(catalog, monitor, version, around), monitor, schema)


def _capped(rows: pl.DataFrame, expression: str, where: str, notes: list[str]
            ) -> pl.DataFrame:
    """`rows` of one slicing expression without the windows where it has more than
    MAX_SLICE_VALUES distinct values (a note names the expression, the windows and the cap)."""
    counts = rows.group_by(START).agg(pl.col(SLICE_VALUE).n_unique().alias("n"))
    over = counts.filter(pl.col("n") > MAX_SLICE_VALUES)
    if over.is_empty():
        return rows
    notes.append(f"slicing expression {expression!r} has up to {over['n'].max()} distinct "
                 f"values in {over.height} window(s) of {where} from "
                 f"{over[START].min().isoformat()} (at most {MAX_SLICE_VALUES} are sliced): "
                 "no slices of it there")
    return rows.filter(~pl.col(START).is_in(over[START].implode()))


def _slice_failure(monitor: Monitor, expression: str, columns: Collection[str],
                   error: Exception) -> str:
    """Why the slicing expression cannot be evaluated on the monitored rows: the columns it
    names that the table lacks, else the error's first line."""
    missing = missing_columns(expression, columns)
    if missing:
        shown = [c for c in columns if c not in (START, END)]
        return (f"column(s) {', '.join(map(repr, missing))} not in {monitor.table} "
                f"(columns: {', '.join(shown)})")
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first[:MAX_FAILURE]}"


def _slices(frame: pl.DataFrame, monitor: Monitor, notes: list[str],
            failed: dict[str, str]) -> Iterable[pl.DataFrame]:
    """The rows of every slice (the whole table first); a slicing expression that cannot be
    evaluated on them is left out, with why in `failed` and a note."""
    for expression in (None, *monitor.slicing_exprs):
        try:
            rows = slice_of(frame.lazy(), expression, monitor).collect()
        except (MonitorError, pl.exceptions.PolarsError) as error:
            if expression is None:
                raise
            why = _slice_failure(monitor, expression, frame.columns, error)
            failed[expression] = why
            notes.append(f"slicing expression {expression!r} cannot be evaluated on the rows "
                         f"of {monitor.table}: {why}: no slices of it (the rest is computed)")
            continue
        yield rows if expression is None else _capped(rows, expression, monitor.table, notes)


def _without_pii(rows: pl.DataFrame, pii: Collection[str]) -> pl.DataFrame:
    """Metric rows as they may leave the monitored table: slice values of slicing expressions
    naming a pii column hashed (`pii.hashed`), and pii columns' frequent items hashed and
    their individual values (min, max, median, quantiles) NULL."""
    if not pii or rows.is_empty():
        return rows
    keys = [k for k in rows[SLICE_KEY].unique().to_list() if reveals_pii(k, pii)]
    rows = rows.with_columns(pl.when(pl.col(SLICE_KEY).is_in(keys))
                             .then(hashed(pl.col(SLICE_VALUE))).otherwise(pl.col(SLICE_VALUE))
                             .alias(SLICE_VALUE))
    if "frequent_items" not in rows.columns:
        return rows
    secret = pl.col("column_name").is_in(list(pii))
    frequent = [values if name not in pii or values is None else
                [{"item": digest(i["item"]), "count": i["count"]} for i in values]
                for name, values in rows.select("column_name", "frequent_items").iter_rows()]
    return rows.with_columns(
        pl.Series("frequent_items", frequent, dtype=rows.schema["frequent_items"]),
        *(pl.when(secret).then(None).otherwise(pl.col(c)).alias(c)
          for c in ("min", "max", "median", "quantiles")))


def _compute(catalog: Catalog, monitor: Monitor, rows: pl.LazyFrame | None,
             starts: set[datetime], full: bool, kinds: Mapping[str, Kind],
             categorical: Mapping[str, bool], version: int, shared: _Shared, notes: list[str],
             previous_of: Mapping[datetime, Window | None], failed: dict[str, str]
             ) -> tuple[list[Window], int, int, int]:
    """Profile and drift rows of the windows starting at `starts` (`rows`: theirs and their
    neighbours'), written; `full`: also drop the windows no longer in the table;
    `previous_of`: the windows whose drift is computed → the window their CONSECUTIVE drift
    compares with (`_consecutive`; a snapshot's: the snapshot before); `failed` receives
    the slicing expressions left out. Returns the windows, the profile and drift rows
    written and the monitored rows read."""
    # a full refresh of a time series also drops windows whose rows are all gone; a
    # snapshot's earlier windows are history, kept
    stale = (tables.window_starts(catalog, monitor)
             if full and monitor.profile_type != "snapshot" else set())
    if rows is None:
        notes.append(f"{monitor.table} has no rows: zero windows" if full
                     else "no window touched since the last refresh")
        for table in (monitor.profile_metrics_table, monitor.drift_metrics_table):
            tables.replace_windows(catalog, table, pl.DataFrame(), stale)
        return [], 0, 0, 0
    frame = rows.collect()
    spec = monitor.inference_log
    if spec is not None:
        if spec.labels is not None and not catalog.exists(spec.labels.table):
            notes.append(f"labels table {spec.labels.table} does not exist yet: no realized "
                         "quality")
            spec = replace(spec, labels=None)
        try:
            frame = with_labels(catalog, frame, spec, str(monitor.timestamp_col), notes)
        except ValueError as error:  # a label column of the wrong type: profile all the same
            notes.append(f"no realized quality: {error}")
            frame = with_labels(catalog, frame, replace(spec, labels=None, label_col=None),
                                str(monitor.timestamp_col))
    slices = pl.concat(list(_slices(frame, monitor, notes, failed)),
                       how="vertical_relaxed")
    present = slices.filter(pl.col(START).is_in(sorted(starts)))
    groups = dict(_group_keys(slices.drop("label", strict=False)))
    profiles, drifts, layout = [], [], group_layout(present)
    for index, columns in enumerate(column_groups(kinds, categorical)):
        # one column group at a time: only its sorted values are held (each side's once)
        flags = {c: categorical[c] for c in columns}
        shared.use_columns(flags)
        current = _Groups(groups, flags)
        for key in current.rows:  # here, not from the profile's threads (each would prepare it)
            if key[0] in starts:
                current.side(key)
        parts = (profile(present.lazy(), {c: kinds[c] for c in columns}, flags,
                         current.sorted_column, layout),
                 _drift(current, previous_of, monitor, flags, shared.prepared_baseline))
        if index:  # the `:table` rows come with the first group
            parts = tuple(p.filter(pl.col("column_name") != TABLE_LEVEL) for p in parts)
        profiles.append(parts[0])
        drifts.append(parts[1])
    shared.use_columns({})
    quality = (_quality(monitor, present, shared.estimator)
               if spec is not None and not present.is_empty() else None)
    profiled = _finish_profile(pl.concat(profiles), quality, monitor, version)
    drifted = pl.concat(drifts).sort("window", "drift_type", SLICE_KEY, SLICE_VALUE,
                                     "column_name", nulls_last=False)
    base = shared.baseline
    if base:
        notes.extend(_unmatched(groups, previous_of, base))
    pii, why = pii_of(catalog, monitor.table)
    if why is not None:
        notes.append(why)
    profiled, drifted = _without_pii(profiled, pii), _without_pii(drifted, pii)
    tables.replace_windows(catalog, monitor.profile_metrics_table, profiled, starts | stale)
    tables.replace_windows(catalog, monitor.drift_metrics_table, drifted,
                           set(previous_of) | stale)
    span = timedelta(0) if monitor.profile_type == "snapshot" else monitor.granularity
    return [(s, s + span) for s in sorted(starts)], profiled.height, drifted.height, frame.height
