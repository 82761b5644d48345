"""The two metric tables of a monitor: created on first use, windows replaced whole.

A refresh replaces every row of the windows it recomputed (one Delta commit per table, a
replaceWhere on `window.start`), so writing the same windows twice leaves the same rows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.lake.predicates import quoted
from lakehouse_ml.monitoring.schema import DRIFT_METRICS, PROFILE_METRICS
from lakehouse_ml.monitoring.spec import Monitor

LABELS_VERSION = "monitoring.labels_version"
"""Tag of the profile metrics table: the label table's Delta version the last refresh read."""
OWNER = "team:ml"


def _info(monitor: Monitor, kind: str, tags: dict[str, str]) -> TableInfo:
    return TableInfo(owner=OWNER, tags={"layer": "monitoring", **tags}, comment=(
        f"Lakehouse Monitoring {kind} metrics of {monitor.table} ({monitor.profile_type}), "
        "one row per window, slice and column (`:table` for the table level)."))


def ensure_tables(catalog: Catalog, monitor: Monitor) -> None:
    """Create the profile and drift metric tables if missing (their tags kept)."""
    for table, schema, kind in ((monitor.profile_metrics_table, PROFILE_METRICS, "profile"),
                                (monitor.drift_metrics_table, DRIFT_METRICS, "drift")):
        if not catalog.exists(table):
            catalog.create_table(table, schema, _info(monitor, kind, {}))


def last_version(catalog: Catalog, monitor: Monitor) -> int | None:
    """The monitored table's version the last refresh read: the largest
    `logging_table_commit_version` in the profile table (None before any row)."""
    return (catalog.scan(monitor.profile_metrics_table)
            .select(pl.col("logging_table_commit_version").max()).collect().item())


def window_starts(catalog: Catalog, monitor: Monitor) -> set[datetime]:
    """The starts of every window either metric table holds."""
    starts: set[datetime] = set()
    for table in (monitor.profile_metrics_table, monitor.drift_metrics_table):
        found = (catalog.scan(table).select(pl.col("window").struct.field("start").unique())
                 .collect())
        starts |= set(found.to_series().drop_nulls().to_list())
    return starts


def previous_snapshot(catalog: Catalog, monitor: Monitor, before: datetime
                      ) -> tuple[datetime, int] | None:
    """The latest window of the profile table starting before `before`, with the monitored
    table's version its rows were computed from (None when there is none)."""
    found = (catalog.scan(monitor.profile_metrics_table)
             .select(pl.col("window").struct.field("start"), "logging_table_commit_version")
             .filter(pl.col("start") < before).sort("start").tail(1).collect())
    return (found["start"][0], found["logging_table_commit_version"][0]) if found.height else None


def labels_version(catalog: Catalog, monitor: Monitor) -> int | None:
    tags = catalog.describe(monitor.profile_metrics_table).info.tags
    return int(tags[LABELS_VERSION]) if LABELS_VERSION in tags else None


def record_labels_version(catalog: Catalog, monitor: Monitor, version: int) -> None:
    """Remember the label table's version read (after the windows it touched are written: a
    crash in between makes the next refresh redo them, never skip them)."""
    current = catalog.describe(monitor.profile_metrics_table).info
    catalog.create_table(monitor.profile_metrics_table, PROFILE_METRICS,
                         _info(monitor, "profile", {**current.tags,
                                                    LABELS_VERSION: str(version)}))


def _window_starts(starts: Collection[datetime]) -> str:
    cast = "'Timestamp(Microsecond, Some(\"UTC\"))'"
    items = ", ".join(f"arrow_cast({quoted(s.isoformat())}, {cast})" for s in sorted(starts))
    return f"get_field(\"window\", 'start') IN ({items})"


def replace_windows(catalog: Catalog, table: str, rows: pl.DataFrame,
                    starts: Collection[datetime]) -> None:
    """Replace the rows of `table` whose window starts at one of `starts` by `rows` (whose
    windows all start there); nothing to do for no starts."""
    if not starts:
        return
    predicate = _window_starts(starts)
    if rows.is_empty():
        catalog.delete(table, predicate)
    else:
        catalog.overwrite(table, rows, predicate=predicate)
