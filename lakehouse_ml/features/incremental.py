"""Window features at chosen snapshot days, from per-day partial aggregates, without a day grid.

A feature table's snapshot stamped `D 00:00` sums (or counts distinct values over) the days of a
window ending the day before D. Materializing one row per entity and calendar day over the whole
look-back (a "grid") makes a one-day refresh cost as much as the look-back. Here every input is
kept sparse, one row per entity and day *with data*, and a window is read off running totals at
its two boundaries (`join_asof`), so the work follows the rows that exist, and the output has one
row per entity and snapshot day only.

Frames here use the column `day` (`pl.Date`): in the input, the day the data belongs to; in the
`stamps` frame, the last day a snapshot sees (its stamp minus one day).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

DAY = timedelta(days=1)


def day_chunks(days: Sequence[date], size: int) -> list[list[date]]:
    """`days` sorted and cut into runs of at most `size` days, none spanning more than `size`
    calendar days, so that the data one chunk reads is bounded by `size` plus the look-back.

    Raises `ValueError` if `size` < 1."""
    if size < 1:
        raise ValueError(f"chunk size must be at least one day, got {size}")
    chunks: list[list[date]] = []
    for day in sorted(set(days)):
        if chunks and (day - chunks[-1][0]).days < size:
            chunks[-1].append(day)
        else:
            chunks.append([day])
    return chunks


@dataclass(frozen=True)
class Window:
    """Sum of `column` over `days` consecutive days ending `offset` days before the last day a
    snapshot sees: days [last - offset - days + 1, last - offset]."""

    column: str
    days: int
    offset: int = 0


def _running(daily: pl.LazyFrame, key: str, columns: Sequence[str]) -> pl.LazyFrame:
    """Per key, the running total of each column up to each day with data (nulls as 0), sorted
    by day for `join_asof`."""
    return (
        daily.select(key, "day", *columns)
        .with_columns(pl.col(columns).fill_null(0))
        .with_columns(pl.col(c).cum_sum().over(key, order_by="day").alias(c) for c in columns)
        .sort("day")
    )


def _as_of(stamps: pl.LazyFrame, running: pl.LazyFrame, key: str, back: int,
           columns: Sequence[str], suffix: str) -> pl.LazyFrame:
    """`stamps` with each running total as of `back` days before the stamp's day (0 if none)."""
    return _totals(stamps.select(key, "day").sort("day"), running, key, back, columns, suffix)


def _totals(ordered: pl.LazyFrame, running: pl.LazyFrame, key: str, back: int,
            columns: Sequence[str], suffix: str) -> pl.LazyFrame:
    """`ordered` (`key`, `day`, sorted by day) with each running total as of `back` days
    before its day (0 if none), in `ordered`'s row order: an asof join keeps the left frame's
    rows in their order, and `day - back` is sorted like `day`."""
    shifted = ordered.with_columns((pl.col("day") - back * DAY).alias("_at"))
    found = shifted.join_asof(
        running.rename({"day": "_at"}), on="_at", by=key, strategy="backward",
        check_sortedness=False, suffix="_",
    )
    return found.select(key, "day", *(pl.col(c).fill_null(0).alias(f"{c}{suffix}")
                                      for c in columns))


def _bucketed(daily: pl.LazyFrame, key: str, columns: Sequence[str], points: Sequence[date]
              ) -> pl.LazyFrame:
    """`daily` summed per key into the first of `points` on or after each row's day (rows after
    the last point dropped): a running total read only at `points` is unchanged, and a few
    snapshot days need a few rows per key instead of one per day of the look-back."""
    ordered = sorted(set(points))
    between, at = [], 0  # days after the first point, up to the last, to the point they reach
    for i in range(1, (ordered[-1] - ordered[0]).days + 1):
        day = ordered[0] + i * DAY
        while ordered[at] < day:
            at += 1
        between.append((day, ordered[at]))
    buckets = pl.LazyFrame({"day": [d for d, _ in between], "_end": [e for _, e in between]},
                           schema={"day": pl.Date, "_end": pl.Date})
    ends = daily.select(key, "day", *columns).join(buckets, on="day", how="left").with_columns(
        pl.when(pl.col("day") <= ordered[0]).then(pl.lit(ordered[0])).otherwise("_end")
        .alias("_end"))
    return (ends.filter(pl.col("_end").is_not_null())
            .group_by(key, pl.col("_end").alias("day")).agg(pl.col(columns).sum()))


def window_sums(
    daily: pl.LazyFrame, stamps: pl.LazyFrame, key: str, windows: Mapping[str, Window],
    days: Sequence[date] | None = None,
) -> pl.LazyFrame:
    """`stamps` (`key`, `day`) with one column per window: the sum over `daily`'s rows
    (`key`, `day`, columns; at most one row per key and day) in that window.

    Each sum is (running total at the window's last day) - (running total the day before its
    first), the running totals starting at `daily`'s first row: `daily` must therefore start
    no later than the earliest window's first day, and hold only rows that count. `days`, the
    stamps' days, if given: `daily` is first summed per key between the days the totals are
    read at (`_bucketed`; the same sums from fewer rows when the days are few)."""
    columns = sorted({w.column for w in windows.values()})
    backs = sorted({b for w in windows.values() for b in (w.offset, w.offset + w.days)})
    if days:
        daily = _bucketed(daily, key, columns, [d - b * DAY for d in days for b in backs])
    running = _running(daily, key, columns)
    # one row per key and day, in an order every branch computes alike (a total order), so
    # the totals at every distance line up with it row by row: side by side, not joined
    ordered = stamps.select(key, "day").sort("day", key)
    out = pl.concat([ordered, *(_totals(ordered, running, key, back, columns, f"@{back}")
                                .drop(key, "day") for back in backs)], how="horizontal")
    return out.select(key, "day", *(
        (pl.col(f"{w.column}@{w.offset}") - pl.col(f"{w.column}@{w.offset + w.days}"))
        .alias(name) for name, w in windows.items()))


def days_since(
    daily: pl.LazyFrame, stamps: pl.LazyFrame, key: str, flags: Mapping[str, str], horizon: int
) -> pl.LazyFrame:
    """`stamps` with, per output name, the days from the last day with `flag` > 0 up to and
    including the stamp's day to the snapshot (the stamp's day + 1): 1 if the flag was set on
    the last day seen. Null if there is none within `horizon` days."""
    out = stamps.select(key, "day")
    for name, flag in flags.items():
        flagged = daily.filter(pl.col(flag) > 0).select(key, pl.col("day").alias("_last"))
        last = out.sort("day").join_asof(
            flagged.sort("_last"), left_on="day", right_on="_last", by=key,
            strategy="backward", check_sortedness=False,
        )
        since = (pl.col("day") + DAY - pl.col("_last")).dt.total_days()
        out = last.with_columns(pl.when(since <= horizon).then(since).alias(name)).drop("_last")
    return out


def last_sightings(sightings: pl.LazyFrame, key: str, item: str) -> pl.LazyFrame:
    """One row per `key` and `item` of `sightings` (`key`, `item`, `day`): its last `day`."""
    return sightings.group_by(key, item).agg(pl.col("day").max())


def advance_last_seen(last_seen: pl.LazyFrame, newer: pl.LazyFrame, key: str, item: str,
                      as_of: date, horizon: int) -> pl.LazyFrame:
    """`last_seen` (`key`, `item`, `day`: one row per pair, as of some day before every day of
    `newer`) brought to `as_of` with `newer`'s sightings up to it: a pair seen again takes its
    new last day. Pairs last seen `horizon` or more days before `as_of` are dropped (no window
    ending after `as_of` can contain them)."""
    newer = newer.filter(pl.col("day") <= as_of)
    kept = last_seen.join(newer.select(key, item).unique(), on=[key, item], how="anti")
    return (pl.concat([kept.select(key, item, "day"), last_sightings(newer, key, item)])
            .filter(pl.col("day") > as_of - horizon * DAY))


def _carried_marks(last_seen: pl.LazyFrame, recent: pl.LazyFrame, key: str, item: str,
                   widths: Sequence[int], first: date, last: date) -> pl.LazyFrame:
    """+1/-1 marks of the pairs `last_seen` before `first`: each counts in a window of `w` days
    until its end, its next sighting in `recent` or `w` days after it. A window before `first`
    or after `last` is never read, so the marks are a few per key rather than one per pair:
    on the eve of `first`, +1 for each pair still counted on `first` (ending after it), and -1
    on the day it ends for each ending in [first + 1, last]."""
    nexts = recent.group_by(key, item).agg(pl.col("day").min().alias("_next"))
    ends = last_seen.join(nexts, on=[key, item], how="left").select(key, *(
        pl.min_horizontal(pl.col("_next"), pl.col("day") + w * DAY).alias(f"_end{w}")
        for w in widths))
    counted = ends.group_by(key).agg(
        (pl.col(f"_end{w}") > first).sum().cast(pl.Int32).alias(f"_dp{w}") for w in widths)
    return pl.concat([
        counted.with_columns(pl.lit(first - DAY).alias("day")),
        *(ends.filter(pl.col(f"_end{w}").is_between(first + DAY, last))
          .group_by(key, pl.col(f"_end{w}").alias("day"))
          .agg((-pl.len().cast(pl.Int32)).alias(f"_dp{w}")) for w in widths),
    ], how="diagonal")


def _sighting_marks(recent: pl.LazyFrame, key: str, item: str, widths: Sequence[int],
                    last: date) -> pl.LazyFrame:
    """+1/-1 marks of every sighting in `recent`: it counts from its day until the item's next
    sighting or `w` days later, whichever is first (a -1 after `last`, never read, is left
    out)."""
    same_item_next = (pl.col(key) == pl.col(key).shift(-1)) & (
        pl.col(item) == pl.col(item).shift(-1))
    gone = (
        recent.select(key, item, "day").unique()
        .sort(key, item, "day")  # a sort and a shift: cheaper than shift().over(key, item)
        .with_columns(pl.when(same_item_next).then(pl.col("day").shift(-1)).alias("_next"))
        .select(key, "day", *(
            pl.min_horizontal(pl.col("_next"), pl.col("day") + w * DAY).alias(f"_gone{w}")
            for w in widths))
    )
    return pl.concat([
        gone.group_by(key, "day").agg(pl.len().cast(pl.Int32).alias(f"_dp{w}") for w in widths),
        *(gone.filter(pl.col(f"_gone{w}") <= last)
          .group_by(key, pl.col(f"_gone{w}").alias("day"))
          .agg((-pl.len().cast(pl.Int32)).alias(f"_dp{w}")) for w in widths),
    ], how="diagonal")


def distinct_in_windows(
    last_seen: pl.LazyFrame, recent: pl.LazyFrame, stamps: pl.LazyFrame, key: str, item: str,
    windows: Mapping[str, int], first: date, last: date,
) -> pl.LazyFrame:
    """`stamps` with, per output name, the number of distinct `item`s seen in the window of that
    many days ending the stamp's day (an Int64).

    `first`/`last` are the earliest/latest stamp days. `recent` (`key`, `item`, `day`) holds
    every sighting from some day before `first` to `last`; `last_seen` (`key`, `item`, `day`)
    one row per pair with its last sighting before `recent` starts (e.g. `last_sightings` of
    the look-back, or a kept state: `advance_last_seen`). So the work follows `last_seen` (one
    row per pair seen in the look-back, reduced to a few marks per key) plus `recent`, not
    the look-back's sightings."""
    widths = sorted(set(windows.values()))
    totals = [f"_dp{w}" for w in widths]
    marks = (pl.concat([_carried_marks(last_seen, recent, key, item, widths, first, last),
                        _sighting_marks(recent, key, item, widths, last)], how="diagonal")
             .group_by(key, "day").agg(pl.col(totals).sum()))
    counts = _as_of(stamps, _running(marks, key, totals), key, 0, totals, "")
    return counts.select(key, "day", *(pl.col(f"_dp{w}").cast(pl.Int64).alias(name)
                                       for name, w in windows.items()))
