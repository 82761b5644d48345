"""Freshness of a monitored table: its newest row (by the monitor's timestamp column) or its
latest Delta commit must be within the monitor's `freshness` of now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.monitoring.schema import UTC_TIME
from lakehouse_ml.monitoring.spec import Monitor
from lakehouse_ml.monitoring.windows import utc_time

MAX_CLOCK_SKEW = timedelta(hours=1)
"""A row dated later than now plus this is not evidence of freshness (a clock or parsing
error, or a sentinel such as 9999-12-31): it is counted in the reason instead."""


@dataclass(frozen=True)
class Freshness:
    table: str
    fresh: bool
    reason: str
    """One sentence naming the table, its newest row and commit, and the bound."""
    latest_row: datetime | None
    latest_commit: datetime | None
    lag: timedelta | None
    """now minus the later of the two (None: the table does not exist or has no commit)."""


def freshness(catalog: Catalog, monitor: Monitor, now: datetime | None = None) -> Freshness:
    """The monitored table's freshness against `monitor.freshness` at `now` (default: the
    current UTC time). Stale, naming why, when the table does not exist, or when neither its
    newest row (rows dated after now + MAX_CLOCK_SKEW do not count) nor its latest commit is
    that recent. ValueError when the monitor declares no freshness (MonitorError when its
    timestamp column is not a Date or Datetime)."""
    if monitor.freshness is None:
        raise ValueError(f"monitor of {monitor.table} declares no freshness")
    now = now or datetime.now(UTC)
    bound = f"must be at most {monitor.freshness} old"
    if not catalog.exists(monitor.table):
        return Freshness(monitor.table, False, f"{monitor.table} does not exist ({bound})",
                         None, None, None)
    history = catalog.history(monitor.table, limit=1)
    commit = (datetime.fromtimestamp(history[0]["timestamp"] / 1000, UTC)
              if history and history[0].get("timestamp") is not None else None)
    row, future = None, 0
    if monitor.timestamp_col is not None:
        scan = catalog.scan(monitor.table)
        stamp = utc_time(monitor.timestamp_col, scan.collect_schema()[monitor.timestamp_col],
                         f"monitor of {monitor.table}")
        ahead = stamp > pl.lit(now + MAX_CLOCK_SKEW, UTC_TIME)
        newest = scan.select(stamp.filter(~ahead).max().alias("row"),
                             ahead.sum().alias("future")).collect().row(0, named=True)
        row, future = newest["row"], newest["future"]
    latest = max((t for t in (row, commit) if t is not None), default=None)
    lag = now - latest if latest is not None else None
    fresh = lag is not None and lag <= monitor.freshness
    seen = (f"newest row {row.isoformat() if row else 'none'}, latest commit "
            f"{commit.isoformat() if commit else 'none'}")
    if future:
        seen += (f", {future} rows dated more than {MAX_CLOCK_SKEW} after now not counted")
    verdict = "fresh" if fresh else "stale"
    return Freshness(monitor.table, fresh, f"{monitor.table} is {verdict}: {seen}, lag "
                     f"{lag} at {now.isoformat()} ({bound})", row, commit, lag)
