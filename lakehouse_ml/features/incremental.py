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
        .sort(key, "day")
        .with_columns(pl.col(c).cum_sum().over(key).alias(c) for c in columns)
        .sort("day")
    )


def _as_of(stamps: pl.LazyFrame, running: pl.LazyFrame, key: str, back: int,
           columns: Sequence[str], suffix: str) -> pl.LazyFrame:
    """`stamps` with each running total as of `back` days before the stamp's day (0 if none)."""
    shifted = stamps.select(key, "day", (pl.col("day") - back * DAY).alias("_at")).sort("_at")
    found = shifted.join_asof(
        running.rename({"day": "_at"}), on="_at", by=key, strategy="backward",
        check_sortedness=False, suffix="_",
    )
    return found.select(key, "day", *(pl.col(c).fill_null(0).alias(f"{c}{suffix}")
                                      for c in columns))


def window_sums(
    daily: pl.LazyFrame, stamps: pl.LazyFrame, key: str, windows: Mapping[str, Window]
) -> pl.LazyFrame:
    """`stamps` (`key`, `day`) with one column per window: the sum over `daily`'s rows
    (`key`, `day`, columns; at most one row per key and day) in that window.

    Each sum is (running total at the window's last day) - (running total the day before its
    first), the running totals starting at `daily`'s first row: `daily` must therefore start
    no later than the earliest window's first day, and hold only rows that count."""
    columns = sorted({w.column for w in windows.values()})
    running = _running(daily, key, columns)
    backs = sorted({b for w in windows.values() for b in (w.offset, w.offset + w.days)})
    out = stamps.select(key, "day")
    for back in backs:
        out = out.join(_as_of(stamps, running, key, back, columns, f"@{back}"),
                       on=[key, "day"], how="left")
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


def distinct_in_windows(
    sightings: pl.LazyFrame, stamps: pl.LazyFrame, key: str, item: str,
    windows: Mapping[str, int], first: date,
) -> pl.LazyFrame:
    """`stamps` with, per output name, the number of distinct `item`s seen in the window of that
    many days ending the stamp's day (an Int64).

    `sightings` (`key`, `item`, `day`) must cover every window; `first` is the earliest stamp
    day. Every sighting before `first` is replaced by its item's last one (the only one a
    window ending on or after `first` can still contain), so the state is one row per item
    seen in the look-back plus the sightings of the snapshot days themselves. Each sighting
    counts from its day until the next sighting of the item or `w` days later, whichever is
    first: +1/-1 marks whose running total is the count."""
    earlier = (sightings.filter(pl.col("day") < first)
               .group_by(key, item).agg(pl.col("day").max()))
    recent = sightings.filter(pl.col("day") >= first).select(key, item, "day").unique()
    same_item_next = (pl.col(key) == pl.col(key).shift(-1)) & (
        pl.col(item) == pl.col(item).shift(-1))
    marks = (
        pl.concat([earlier.select(key, item, "day"), recent])
        .sort(key, item, "day")  # a sort and a shift: cheaper than shift().over(key, item)
        .with_columns(pl.when(same_item_next).then(pl.col("day").shift(-1)).alias("_next"))
        .select(key, pl.col("day").alias("_seen"), *(
            pl.min_horizontal(pl.col("_next"), pl.col("day") + w * DAY).alias(f"_gone{w}")
            for w in sorted(set(windows.values()))))
        .unpivot(index=key, variable_name="_mark", value_name="day")
        .group_by(key, "day")
        .agg(((pl.col("_mark") == "_seen").cast(pl.Int32).sum()
              - (pl.col("_mark") == f"_gone{w}").cast(pl.Int32).sum()).alias(f"_dp{w}")
             for w in sorted(set(windows.values())))
    )
    totals = sorted(f"_dp{w}" for w in set(windows.values()))
    counts = _as_of(stamps, _running(marks, key, totals), key, 0, totals, "")
    return counts.select(key, "day", *(pl.col(f"_dp{w}").cast(pl.Int64).alias(name)
                                       for name, w in windows.items()))
