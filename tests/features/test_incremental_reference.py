"""The sparse window features of `lakehouse_ml.features.incremental` and the pure helpers of
`lakehouse_ml.features.snapshots`, called directly on small random frames and compared with a
naive reference in plain Python (a loop over every key, stamp and day): fast (seconds), unlike
the end-to-end tests through the churn builders (tests/features/test_incremental_snapshots.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse_ml.features.errors import FeatureStoreError, TimestampError
from lakehouse_ml.features.incremental import (
    Window,
    advance_last_seen,
    day_chunks,
    days_since,
    distinct_in_windows,
    last_sightings,
    window_sums,
)
from lakehouse_ml.features.snapshots import (
    AS_OF,
    Held,
    check_stamps,
    refresh_feature_table,
    snapshot_days,
    unbuilt,
)
from lakehouse_ml.features.timestamps import snapshot_time
from lakehouse_ml.medallion.spec import Feature, FeatureTableSpec

DAY = timedelta(days=1)
BASE = date(2026, 3, 1)
KEYS = (1, 2, 3)
SPAN = 40
"""Data days are BASE + 0 .. BASE + SPAN - 1."""

FAST = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def day(i: int) -> date:
    return BASE + i * DAY


# --- strategies -------------------------------------------------------------------------------

values = st.one_of(st.none(), st.integers(-5, 20))
"""A day's value of a column: null counts as 0 in a sum and as no flag."""

daily_rows = st.dictionaries(  # (key, day index) -> (a, b): at most one row per key and day
    st.tuples(st.sampled_from(KEYS), st.integers(0, SPAN - 1)), st.tuples(values, values),
    max_size=60)

stamp_pairs = st.lists(  # (key, day index): the last day a snapshot sees; unique pairs
    st.tuples(st.sampled_from((*KEYS, 4)), st.integers(10, SPAN + 5)),  # key 4: never any data
    min_size=1, max_size=15, unique=True)


def daily_frame(rows: dict) -> pl.LazyFrame:
    return pl.LazyFrame({
        "k": [k for k, _ in rows], "day": [day(i) for _, i in rows],
        "a": [a for a, _ in rows.values()], "b": [b for _, b in rows.values()],
    }, schema={"k": pl.Int64, "day": pl.Date, "a": pl.Int64, "b": pl.Int64})


def stamps_frame(pairs: list[tuple[int, int]]) -> pl.LazyFrame:
    return pl.LazyFrame({"k": [k for k, _ in pairs], "day": [day(i) for _, i in pairs]},
                        schema={"k": pl.Int64, "day": pl.Date})


def rows_of(frame: pl.LazyFrame | pl.DataFrame, columns: list[str]) -> list[tuple]:
    frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    return sorted(frame.select(columns).rows(), key=repr)


# --- window_sums ------------------------------------------------------------------------------

def naive_sum(rows: dict, column: int, key: int, last: date, window: Window) -> int:
    """Sum of the column over the window's days, looking at every day one by one."""
    total = 0
    end = last - window.offset * DAY
    for i in range(window.days):
        value = rows.get((key, (end - i * DAY - BASE).days), (None, None))[column]
        total += value or 0
    return total


windows = st.dictionaries(
    st.text("wxyz", min_size=1, max_size=3),
    st.builds(Window, st.sampled_from(["a", "b"]), st.integers(1, 12), st.integers(0, 12)),
    min_size=1, max_size=4)


@settings(FAST, max_examples=150)
@given(rows=daily_rows, pairs=stamp_pairs, wins=windows,
       days_mode=st.sampled_from(["none", "stamps", "extra"]), extra=st.integers(0, SPAN + 5))
def test_window_sums_equal_a_day_by_day_sum(rows, pairs, wins, days_mode, extra):
    """Every window of every stamp equals the sum over its days, with and without `days`
    (the `_bucketed` path; `days` may hold a day no stamp has)."""
    stamp_days = sorted({day(i) for _, i in pairs})
    days = {"none": None, "stamps": stamp_days, "extra": [*stamp_days, day(extra)]}[days_mode]
    got = window_sums(daily_frame(rows), stamps_frame(pairs), "k", wins, days)
    names = list(wins)
    expected = sorted(
        ((k, day(i), *(naive_sum(rows, "ab".index(w.column), k, day(i), w)
                       for w in wins.values())) for k, i in pairs), key=repr)
    assert rows_of(got, ["k", "day", *names]) == expected


def test_window_sums_bucketed_rows_before_and_after_the_points():
    """A row before the earliest point counts at it, one after the last point counts nowhere,
    a row between two points counts from the later one: here with one stamp day and offsets."""
    rows = {(1, 0): (100, None), (1, 5): (10, None), (1, 9): (1, None), (1, 12): (1000, None)}
    wins = {"w": Window("a", 3, offset=1), "all": Window("a", 10)}
    for days in (None, [day(9)], [day(9), day(12)]):
        got = window_sums(daily_frame(rows), stamps_frame([(1, 9)]), "k", wins, days)
        # w: days 6..8 -> 0; all: days 0..9 -> 100 + 10 + 1
        assert rows_of(got, ["k", "day", "w", "all"]) == [(1, day(9), 0, 111)], days


def test_window_sums_null_values_count_as_zero():
    """A null on the day a running total is read at does not reset the total."""
    rows = {(1, 5): (3, None), (1, 9): (None, 2), (1, 12): (None, None)}
    wins = {"a10": Window("a", 10), "a3": Window("a", 3, offset=3), "b1": Window("b", 1)}
    for days in (None, [day(9), day(12)]):
        got = window_sums(daily_frame(rows), stamps_frame([(1, 9), (1, 12)]), "k", wins, days)
        assert rows_of(got, ["day", "a10", "a3", "b1"]) == [
            (day(9), 3, 3, 2), (day(12), 3, 0, 0)], days


# --- days_since -------------------------------------------------------------------------------

def naive_since(rows: dict, column: int, key: int, last: date, horizon: int) -> int | None:
    for back in range(horizon):  # the stamp's day itself: 1
        value = rows.get((key, (last - back * DAY - BASE).days), (None, None))[column]
        if value is not None and value > 0:
            return back + 1
    return None


@FAST
@given(rows=daily_rows, pairs=stamp_pairs, horizon=st.integers(1, 30))
def test_days_since_equals_a_backward_scan(rows, pairs, horizon):
    got = days_since(daily_frame(rows), stamps_frame(pairs), "k",
                     {"since_a": "a", "since_b": "b"}, horizon)
    expected = sorted(((k, day(i), naive_since(rows, 0, k, day(i), horizon),
                        naive_since(rows, 1, k, day(i), horizon)) for k, i in pairs), key=repr)
    assert rows_of(got, ["k", "day", "since_a", "since_b"]) == expected


def test_days_since_boundaries():
    """Flag on the stamp's day: 1; exactly `horizon` days back counts, one more does not;
    a flag after the stamp's day is not seen."""
    rows = {(1, 10): (1, None), (2, 11): (1, None), (2, 5): (1, None), (3, 4): (1, None)}
    got = days_since(daily_frame(rows), stamps_frame([(1, 10), (2, 10), (3, 10)]), "k",
                     {"s": "a"}, 6)
    assert rows_of(got, ["k", "s"]) == [(1, 1), (2, 6), (3, None)]


# --- distinct_in_windows ----------------------------------------------------------------------

sightings_sets = st.sets(  # (key, item, day index)
    st.tuples(st.sampled_from(KEYS), st.integers(0, 5), st.integers(0, SPAN - 1)), max_size=80)
widths = st.dictionaries(st.sampled_from(["d1", "d2", "d3"]), st.integers(1, 12), min_size=1)
HORIZON = 12
"""At least every width."""


def sightings_frame(seen) -> pl.LazyFrame:
    seen = list(seen)
    return pl.LazyFrame({"k": [k for k, _, _ in seen], "item": [t for _, t, _ in seen],
                         "day": [day(i) for _, _, i in seen]},
                        schema={"k": pl.Int64, "item": pl.Int64, "day": pl.Date})


def between(seen, first: int, last: int) -> set:
    return {s for s in seen if first <= s[2] <= last}


def naive_distinct(seen, key: int, last: int, width: int) -> int:
    return len({t for k, t, i in seen if k == key and last - width < i <= last})


def check_distinct(seen, pairs, wins, last_seen: pl.LazyFrame, start: int) -> None:
    """`distinct_in_windows` from `last_seen` and the sightings from day `start` on equals the
    count of distinct items over every day of each window."""
    first, last = min(i for _, i in pairs), max(i for _, i in pairs)
    recent = sightings_frame(between(seen, start, last))
    got = distinct_in_windows(last_seen, recent, stamps_frame(pairs), "k", "item", wins,
                              day(first), day(last))
    expected = sorted(((k, day(i), *(naive_distinct(seen, k, i, w) for w in wins.values()))
                       for k, i in pairs), key=repr)
    assert rows_of(got, ["k", "day", *wins]) == expected
    assert all(got.collect_schema()[name] == pl.Int64 for name in wins)


distinct_stamps = st.lists(
    st.tuples(st.sampled_from((*KEYS, 4)), st.integers(HORIZON + 8, SPAN - 1)),
    min_size=1, max_size=12, unique=True)


@FAST
@given(seen=sightings_sets, pairs=distinct_stamps, wins=widths, lead=st.integers(0, 6),
       older=st.integers(0, 6))
def test_distinct_from_the_look_back(seen, pairs, wins, lead, older):
    """`last_seen` = `last_sightings` of a look-back of at least `HORIZON` days before the day
    `recent` starts (`lead` days before the first stamp day, 0: on it, as `_start` does)."""
    start = min(i for _, i in pairs) - lead
    look_back = between(seen, start - HORIZON - older, start - 1)
    check_distinct(seen, pairs, wins, last_sightings(sightings_frame(look_back), "k", "item"),
                   start)


@FAST
@given(seen=sightings_sets, pairs=distinct_stamps, wins=widths, lead=st.integers(0, 6),
       gap=st.integers(1, 8), beyond=st.integers(0, 5))
def test_distinct_from_an_advanced_state(seen, pairs, wins, lead, gap, beyond):
    """`last_seen` = an older state (as of `start - 1 - gap`) brought to `start - 1` by
    `advance_last_seen` with sightings that go on after it (as `_kept` passes `recent`)."""
    start = min(i for _, i in pairs) - lead
    old_as_of, as_of = start - 1 - gap, start - 1
    old = last_sightings(sightings_frame(between(seen, old_as_of - HORIZON + 1, old_as_of)),
                         "k", "item")
    newer = sightings_frame(between(seen, old_as_of + 1, as_of + beyond))
    state = advance_last_seen(old, newer, "k", "item", day(as_of), HORIZON)
    check_distinct(seen, pairs, wins, state, start)


@FAST
@given(seen=sightings_sets, old_as_of=st.integers(10, 25), gap=st.integers(0, 10),
       beyond=st.integers(0, 5), horizon=st.integers(1, 12))
def test_advance_last_seen_equals_last_sightings_of_its_horizon(seen, old_as_of, gap, beyond,
                                                                horizon):
    """A state of the `horizon` days to `old_as_of`, advanced to `as_of`, is the last sighting
    of every pair seen in the `horizon` days to `as_of`, and nothing else."""
    as_of = old_as_of + gap
    old = last_sightings(sightings_frame(between(seen, old_as_of - horizon + 1, old_as_of)),
                         "k", "item")
    newer = sightings_frame(between(seen, old_as_of + 1, as_of + beyond))
    got = advance_last_seen(old, newer, "k", "item", day(as_of), horizon)
    expected = {}
    for k, t, i in between(seen, as_of - horizon + 1, as_of):
        expected[k, t] = max(expected.get((k, t), i), i)
    assert rows_of(got, ["k", "item", "day"]) == sorted(
        ((k, t, day(i)) for (k, t), i in expected.items()), key=repr)


def test_advance_last_seen_boundaries():
    """The horizon's first day is kept, the day before it dropped; a sighting on `as_of`
    counts, one after it does not."""
    old = sightings_frame([(1, 1, 10), (1, 2, 11), (1, 3, 12)])
    newer = sightings_frame([(1, 3, 20), (1, 4, 20), (1, 5, 21)])
    got = advance_last_seen(old, newer, "k", "item", day(20), 10)  # keeps days 11..20
    assert rows_of(got, ["item", "day"]) == [(2, day(11)), (3, day(20)), (4, day(20))]


def test_last_sightings_takes_the_last_day_per_pair():
    seen = sightings_frame([(1, 1, 3), (1, 1, 7), (1, 2, 5), (2, 1, 2)])
    assert rows_of(last_sightings(seen, "k", "item"), ["k", "item", "day"]) == [
        (1, 1, day(7)), (1, 2, day(5)), (2, 1, day(2))]


# --- day_chunks -------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None, database=None)
@given(offsets=st.lists(st.integers(0, 60), max_size=30), size=st.integers(1, 10))
def test_day_chunks_greedy_and_bounded(offsets, size):
    """Sorted, deduplicated, cut greedily: a chunk spans fewer than `size` days and the next
    one starts `size` or more days after its first."""
    days = [day(i) for i in offsets]
    chunks = day_chunks(days, size)
    assert [d for chunk in chunks for d in chunk] == sorted(set(days))
    assert all((chunk[-1] - chunk[0]).days < size for chunk in chunks)
    assert all((b[0] - a[0]).days >= size for a, b in zip(chunks, chunks[1:], strict=False))
    assert all(chunks)


def test_day_chunks_examples():
    days = [day(i) for i in (5, 0, 1, 2, 2, 9, 3)]
    assert day_chunks(days, 2) == [[day(0), day(1)], [day(2), day(3)], [day(5)], [day(9)]]
    assert day_chunks(days, 1) == [[day(i)] for i in (0, 1, 2, 3, 5, 9)]
    assert day_chunks(days, 10) == [[day(i) for i in (0, 1, 2, 3, 5, 9)]]
    assert day_chunks(days, 9) == [[day(i) for i in (0, 1, 2, 3, 5)], [day(9)]]
    assert day_chunks([], 3) == []


@pytest.mark.parametrize("size", [0, -1])
def test_day_chunks_refuses_a_size_below_one(size):
    with pytest.raises(ValueError, match=f"at least one day, got {size}"):
        day_chunks([day(0)], size)


# --- snapshot_days ----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, database=None)
@given(parts=st.lists(st.integers(0, 30), max_size=6),
       touched=st.one_of(st.none(), st.integers(-10, 40)),
       first_day=st.one_of(st.none(), st.integers(-10, 40)),
       held=st.one_of(st.none(), st.tuples(st.integers(-10, 45), st.integers(0, 20))))
def test_snapshot_days_equal_a_set_of_wanted_days(parts, touched, first_day, held):
    """The days after each partition day; those between the last held (`held`: the table's
    first and last snapshots) and the first built (days whose partitions built nothing); those
    after the earliest touched day up to the last built or held, but none before the first
    held (none before the first built when none is held); none of the last two before
    `first_day`; filled into one contiguous range."""
    kept = None if held is None else Held(day(held[0]), day(held[0] + held[1]))
    got = snapshot_days([day(p).isoformat() for p in parts],
                        None if touched is None else day(touched),
                        None if first_day is None else day(first_day), kept)
    if not parts:
        assert got == []
        return
    wanted = {p + 1 for p in parts}
    bounded = lambda days: {i for i in days if first_day is None or i >= first_day}  # noqa: E731
    if held is not None:
        wanted |= bounded(range(held[0] + held[1] + 1, min(wanted)))
    if touched is not None:
        lowest = min(wanted) if held is None else held[0]
        last = max(max(parts) + 1, -99 if held is None else held[0] + held[1])
        wanted |= bounded(range(max(touched + 1, lowest), last + 1))
    assert got == [day(i) for i in range(min(wanted), max(wanted) + 1)]


def test_snapshot_days_examples():
    parts, held = ["2026-03-10", "2026-03-12"], Held(date(2026, 3, 1), date(2026, 3, 10))
    assert snapshot_days(parts, None) == [date(2026, 3, d) for d in (11, 12, 13)]
    assert snapshot_days(parts, date(2026, 3, 5), None, held) == [
        date(2026, 3, d) for d in range(6, 14)]
    assert snapshot_days(parts, date(2026, 3, 5), date(2026, 3, 8), held) == [
        date(2026, 3, d) for d in range(8, 14)]
    # late data bounded after the partitions' first snapshot: no change
    assert snapshot_days(parts, date(2026, 3, 5), date(2026, 3, 12), held) == [
        date(2026, 3, d) for d in (11, 12, 13)]
    assert snapshot_days(parts, date(2026, 3, 11), None, held) == [
        date(2026, 3, d) for d in (11, 12, 13)]
    assert snapshot_days([], date(2026, 3, 5)) == []
    # late data under snapshots the table holds redo them all (a day landed out of order)
    held = Held(date(2026, 3, 2), date(2026, 3, 14))
    assert snapshot_days(["2026-03-10"], date(2026, 3, 10), None, held) == [
        date(2026, 3, d) for d in range(11, 15)]
    assert snapshot_days(["2026-03-10"], None, None, held) == [date(2026, 3, 11)]
    # late data older than the first snapshot held redo from it, create none before it
    assert snapshot_days(["2026-03-13"], date(2026, 2, 1), None, held) == [
        date(2026, 3, d) for d in range(2, 15)]
    # none held: a backfill builds its own range, whatever the late data
    assert snapshot_days(parts, date(2026, 2, 1)) == [date(2026, 3, d) for d in (11, 12, 13)]
    # after days whose partitions built nothing: their snapshots too
    held = Held(date(2026, 3, 2), date(2026, 3, 8))
    assert snapshot_days(["2026-03-10"], None, None, held) == [
        date(2026, 3, d) for d in (9, 10, 11)]
    assert snapshot_days(["2026-03-10"], None, date(2026, 3, 10), held) == [
        date(2026, 3, d) for d in (10, 11)]
    assert snapshot_days([], date(2026, 3, 5), None, held) == []


# --- check_stamps -----------------------------------------------------------------------------

def spec(zone: str | None) -> FeatureTableSpec:
    return FeatureTableSpec(
        name="stamped", description="Stamps only.", entity_keys=("k",), timestamp_key="ts",
        inputs=(), build=lambda inputs, days: None, features=(), time_zone=zone)


def stamped(values: list, dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame({"k": list(range(len(values))),
                         "ts": pl.Series(values, dtype=pl.Datetime("us", "UTC")).cast(dtype)})


DAYS = [date(2026, 3, 8), date(2026, 3, 9)]  # New York's clocks change on 2026-03-08


@pytest.mark.parametrize("zone", [None, "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("dtype", [pl.Datetime("us", "UTC"), pl.Datetime("ns", "Asia/Tokyo"),
                                   pl.Datetime("ms", "America/St_Johns")])
def test_check_stamps_passes_the_stamps_of_the_days(zone, dtype):
    table = spec(zone)
    check_stamps(table, DAYS, stamped([snapshot_time(d, table.zone) for d in DAYS] * 2, dtype))
    check_stamps(table, DAYS, stamped([], dtype))


@pytest.mark.parametrize("zone", [None, "America/New_York"])
def test_check_stamps_refuses_a_wrong_stamp(zone):
    table = spec(zone)
    right = [snapshot_time(d, table.zone) for d in DAYS]
    midnight = datetime(2026, 3, 9, tzinfo=UTC)
    wrong = midnight + timedelta(hours=1) if zone is None else midnight
    with pytest.raises(FeatureStoreError, match="feature table gold.stamped: 2 snapshot row") as e:
        check_stamps(table, DAYS, stamped([*right, wrong, wrong], pl.Datetime("us", "UTC")))
    assert "2026-03-09" in str(e.value) and "Nothing was written" in str(e.value)
    # a day outside those built
    with pytest.raises(FeatureStoreError, match="gold.stamped"):
        check_stamps(table, DAYS[:1], stamped(right, pl.Datetime("us", "UTC")))
    with pytest.raises(FeatureStoreError, match="gold.stamped: 1 snapshot row.*null"):
        check_stamps(table, DAYS, stamped([right[0], None], pl.Datetime("us", "UTC")))
    with pytest.raises(FeatureStoreError, match="gold.stamped: 2 snapshot row.*built for no day"):
        check_stamps(table, [], stamped(right, pl.Datetime("us", "UTC")))


def test_check_stamps_refuses_a_naive_column():
    with pytest.raises(TimestampError, match="gold.stamped.*time-zone aware"):
        check_stamps(spec(None), DAYS, stamped([snapshot_time(DAYS[0])], pl.Datetime("us")))


# --- refresh_feature_table (a real Delta table and online store) -------------------------------

def recording(calls: list, dropped: set, zone: str | None, shift: int = 0):
    """A builder of keys 1 and 2 (not those in `dropped`), v = day of month * 10 + key, stamped
    in `zone`, `shift` days off; records the days of each call."""
    def build(inputs, days):
        calls.append(list(days))
        rows = [(k, snapshot_time(d + shift * DAY, zone or "UTC"), d.day * 10 + k)
                for d in days for k in (1, 2) if k not in dropped]
        return pl.LazyFrame(rows, schema={"k": pl.Int64, "ts": pl.Datetime("us", "UTC"),
                                          "v": pl.Int64}, orient="row")
    return build


def refreshed_spec(build, zone: str | None) -> FeatureTableSpec:
    return FeatureTableSpec(
        name="refreshed", description="Refreshed in chunks.", entity_keys=("k",),
        timestamp_key="ts", inputs=(), build=build, time_zone=zone,
        features=(Feature("v", "day and key", ()),))


def test_refresh_builds_chunks_and_replaces_the_days_redone(fe):
    zone = "America/New_York"
    parts = [day(i).isoformat() for i in range(5)]  # snapshots of days 1..5
    calls: list = []
    report = refresh_feature_table(fe, refreshed_spec(recording(calls, set(), zone), zone),
                                   parts, chunk_days=2)
    assert calls == [[day(1), day(2)], [day(3), day(4)], [day(5)]]
    assert report.days == [day(i) for i in range(1, 6)] and report.rows_written == 10
    table = fe.read_table("gold.refreshed")
    assert table.get_column("ts").equals(table.get_column(AS_OF))
    stamps = {snapshot_time(day(i), zone): day(i) for i in range(1, 6)}
    assert sorted((stamps[t.astimezone(UTC)], k, v) for k, t, v in
                  table.select("k", "ts", "v").rows()) == [
        (day(i), k, day(i).day * 10 + k) for i in range(1, 6) for k in (1, 2)]
    # late data of day 2: the snapshots of days 3..6 are redone (key 2 gone), 1..2 kept
    calls.clear()
    report = refresh_feature_table(fe, refreshed_spec(recording(calls, {2}, zone), zone),
                                   [day(5).isoformat()], earliest_touched=day(2), chunk_days=30)
    assert calls == [[day(i) for i in range(3, 7)]] and report.rows_written == 4
    table = fe.read_table("gold.refreshed")
    stamps[snapshot_time(day(6), zone)] = day(6)
    assert sorted((stamps[t.astimezone(UTC)], k) for k, t in table.select("k", "ts").rows()) == [
        (day(1), 1), (day(1), 2), (day(2), 1), (day(2), 2), *((day(i), 1) for i in range(3, 7))]
    assert report.version > 0


def test_refresh_writes_nothing_stamped_wrong_and_creates_an_empty_table(fe):
    calls: list = []
    with pytest.raises(FeatureStoreError, match="gold.refreshed"):
        refresh_feature_table(fe, refreshed_spec(recording(calls, set(), None, shift=1), None),
                              [day(0).isoformat()])
    assert not fe.catalog.exists("gold.refreshed")
    report = refresh_feature_table(fe, refreshed_spec(recording(calls, set(), None), None), [])
    assert calls[-1] == [] and report.days == [] and report.rows_written == 0
    assert fe.catalog.exists("gold.refreshed") and fe.read_table("gold.refreshed").is_empty()


def test_unbuilt_names_the_partition_days_whose_snapshot_the_table_lacks(fe):
    zone = "America/New_York"
    parts = [day(i).isoformat() for i in range(6)]
    spec = refreshed_spec(recording([], set(), zone), zone)
    assert unbuilt(fe, spec, list(reversed(parts))) == parts  # no table yet: every day, sorted
    refresh_feature_table(fe, spec, [parts[1], parts[2], parts[4]], chunk_days=1)
    # the snapshots built are contiguous (days 2..5): partitions 1..4 have theirs, 0 and 5 not;
    # a table stamping in another zone (UTC midnights) holds none of them
    held = [day(i).isoformat() for i in range(1, 5)]
    assert unbuilt(fe, spec, parts) == [parts[0], parts[5]]
    assert unbuilt(fe, spec, held) == []
    assert unbuilt(fe, refreshed_spec(recording([], set(), None), None), held) == held
