"""The sparse snapshot builders give the snapshots of the former day-grid builders, bit for bit.

`grid_*` below are the builders as they were before issue 15 (a row per customer and calendar
day over the 90-day look-back), kept here only as the reference. The data is the demo
generator's, dirty, run through bronze → silver → gold by the engine functions the assets call.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn import features as churn
from lakehouse_ml.domains.churn.features import (
    ACTIVITY,
    CUSTOMERS,
    DAY,
    EVENTS,
    HORIZON,
    KEY,
    METRICS,
    TICKETS,
    TS,
    WINDOWS,
)
from lakehouse_ml.domains.churn.generator import generate
from lakehouse_ml.features import FeatureEngineeringClient, state
from lakehouse_ml.features.snapshots import AS_OF, SnapshotReport, refresh_feature_table
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.changes import earliest_touched_day
from lakehouse_ml.medallion.gold import build_aggregate
from lakehouse_ml.medallion.silver import refine
from lakehouse_ml.medallion.spec import FeatureTableSpec

START, DAYS, CUSTOMERS_N = date(2026, 1, 1), 100, 500
BATCHES = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
HEAD = 80
"""Landing days in the copy of the lakehouse kept before the rest landed (`head`)."""


# ---- the former day-grid builders (reference only) ------------------------------------------
def _span(days: Sequence[date]) -> tuple[date, date]:
    return min(days) - HORIZON * DAY, max(days) - DAY


def _grid(customers: pl.LazyFrame, first: date, last: date) -> pl.LazyFrame:
    days = pl.LazyFrame({"day": pl.date_range(first, last, "1d", eager=True)})
    return (customers.select(KEY, "signup_date").join(days, how="cross")
            .filter(pl.col("day") >= pl.col("signup_date")).drop("signup_date"))


def _running(frame: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    return frame.with_columns(pl.col(columns).fill_null(0)).with_columns(
        pl.col(c).cum_sum().over(KEY, order_by="day").alias(f"_sum_{c}") for c in columns)


def _window(column: str, days: int, offset: int = 0) -> pl.Expr:
    total = pl.col(f"_sum_{column}")
    upper = total.shift(offset).over(KEY, order_by="day").fill_null(0) if offset else total
    lower = total.shift(offset + days).over(KEY, order_by="day").fill_null(0)
    return upper - lower


def _snapshots(frame: pl.LazyFrame, days: Sequence[date]) -> pl.LazyFrame:
    stamped = frame.with_columns((pl.col("day") + DAY).cast(pl.Datetime("us", "UTC")).alias(TS))
    return stamped.filter(pl.col("day").is_in([d - DAY for d in days])).drop("day")


def _count(mark: str) -> pl.Expr:
    return (pl.col("mark") == mark).cast(pl.Int32).sum()


def _distinct_products(events: pl.LazyFrame, first: date, last: date) -> pl.LazyFrame:
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = datetime.combine(last, time(), tzinfo=UTC) + DAY
    marks = (
        events.filter(pl.col("event_ts") >= start, pl.col("event_ts") < end,
                      pl.col("product_id").is_not_null())
        .select(KEY, "product_id", pl.col("event_ts").dt.date().alias("day")).unique()
        .with_columns(pl.col("day").shift(-1).over(KEY, "product_id", order_by="day")
                      .alias("next"))
        .select(KEY, pl.col("day").alias("seen"), *(
            pl.min_horizontal(pl.col("next"), pl.col("day") + w * DAY).alias(f"gone{w}")
            for w in WINDOWS))
        .unpivot(index=KEY, variable_name="mark", value_name="day")
    )
    return marks.group_by(KEY, "day").agg(
        (_count("seen") - _count(f"gone{w}")).alias(f"dp{w}") for w in WINDOWS)


def grid_engagement(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    first, last = _span(days)
    activity = (inputs[ACTIVITY].rename({"activity_date": "day"})
                .filter(pl.col("day").is_between(first, last)).select(KEY, "day", *METRICS))
    grid = (_grid(inputs[CUSTOMERS], first, last)
            .join(activity, on=[KEY, "day"], how="left")
            .join(_distinct_products(inputs[EVENTS], first, last), on=[KEY, "day"], how="left"))
    grid = _running(grid, [*METRICS, *(f"dp{w}" for w in WINDOWS)])
    windows = [_window(m, w).alias(f"{m}_{w}d") for m in METRICS for w in WINDOWS] + [
        pl.col(f"_sum_dp{w}").cast(pl.Int64).alias(f"distinct_products_{w}d") for w in WINDOWS]
    features = grid.with_columns(windows).with_columns(
        pl.col("revenue_7d", "revenue_30d", "revenue_90d").round(2),
        ((pl.col("events_30d") - _window("events", 30, offset=30))
         / (_window("events", 30, offset=30) + 1)).round(6).alias("activity_trend_mom"),
    )
    return _snapshots(features, days).select(
        KEY, TS, *(f.name for f in churn.ENGAGEMENT_FEATURES))


def _days_since(flag: str, name: str) -> pl.Expr:
    last = pl.when(pl.col(flag) > 0).then(pl.col("day")).forward_fill().over(KEY, order_by="day")
    since = (pl.col("day") + DAY - last).dt.total_days()
    return pl.when(since <= HORIZON).then(since).alias(name)


def grid_recency(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    first, last = _span(days)
    activity = (inputs[ACTIVITY].rename({"activity_date": "day"})
                .filter(pl.col("day").is_between(first, last))
                .select(KEY, "day", "purchases", "logins"))
    grid = _grid(inputs[CUSTOMERS], first, last).join(activity, on=[KEY, "day"], how="left")
    features = grid.with_columns(pl.col("purchases", "logins").fill_null(0)).with_columns(
        _days_since("purchases", "days_since_last_purchase"),
        _days_since("logins", "days_since_last_login"))
    return _snapshots(features, days).select(KEY, TS, *(f.name for f in churn.RECENCY_FEATURES))


def grid_support(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    first, last = _span(days)
    tickets = (
        inputs[TICKETS].select(KEY, pl.col("created_at").dt.date().alias("day"), "category")
        .filter(pl.col("day").is_between(first, last)).group_by(KEY, "day")
        .agg(pl.len().cast(pl.Int64).alias("tickets"),
             pl.col("category").is_in(["billing", "cancellation"]).sum().cast(pl.Int64)
             .alias("billing_or_cancellation")))
    grid = _grid(inputs[CUSTOMERS], first, last).join(tickets, on=[KEY, "day"], how="left")
    features = _running(grid, ["tickets", "billing_or_cancellation"]).with_columns(
        _window("tickets", 30).alias("tickets_30d"),
        _window("tickets", 90).alias("tickets_90d"),
        _window("billing_or_cancellation", 90).alias("billing_or_cancellation_tickets_90d"))
    return _snapshots(features, days).select(KEY, TS, *(f.name for f in churn.SUPPORT_FEATURES))


REFERENCE = {"customer_engagement": grid_engagement, "customer_recency": grid_recency,
             "customer_support": grid_support}
# -----------------------------------------------------------------------------------------------


def _medallion(catalog: Catalog, landing: Path, batches: list[str]) -> None:
    for source in DOMAIN.sources:
        ingest(catalog, source, str(landing), batches)
        refine(catalog, source, batches)
    for aggregate in DOMAIN.aggregates:
        build_aggregate(catalog, DOMAIN, aggregate, batches)


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """500 customers x 100 days of dirty demo data (5% of the records: thousands of dirty
    lines), landing → gold by the engine functions: the first `HEAD` landing days, a copy of
    that lakehouse kept beside it (`head`), then the other days."""
    folder = tmp_path_factory.mktemp("incremental")
    landing = folder / "landing"
    generate(landing, customers=CUSTOMERS_N, days=DAYS, start=START, seed=5,
             dirty_fraction=0.05, progress=False)
    catalog = Catalog(str(folder / "lakehouse"), "dev")
    _medallion(catalog, landing, BATCHES[:HEAD])
    shutil.copytree(catalog.root, _head(catalog))
    _medallion(catalog, landing, BATCHES[HEAD:])
    return catalog


def _head(lakehouse: Catalog) -> Path:
    """The copy of `lakehouse` kept when its first `HEAD` landing days were through gold."""
    return Path(lakehouse.root).parent / "head"


def _both(catalog: Catalog, table: str, days: list[date]) -> tuple[pl.DataFrame, pl.DataFrame]:
    spec = next(s for s in churn.FEATURE_TABLES if s.table.endswith(table))
    inputs = {name: catalog.scan(name) for name in spec.inputs}
    new = spec.build(inputs, days).collect().sort(KEY, TS)
    old = REFERENCE[table](inputs, days).collect().sort(KEY, TS)
    return new, old


SNAPSHOT_DAYS = {
    "one day": [START + timedelta(days=DAYS)],
    "one day, with late days redone": [START + timedelta(days=DAYS - 5 + i) for i in range(6)],
    "full backfill": [START + timedelta(days=1 + i) for i in range(DAYS)],
}


@pytest.mark.parametrize("table", sorted(REFERENCE))
@pytest.mark.parametrize("case", sorted(SNAPSHOT_DAYS))
def test_sparse_builders_equal_the_day_grid(lakehouse: Catalog, table: str, case: str) -> None:
    new, old = _both(lakehouse, table, SNAPSHOT_DAYS[case])
    assert old.height > CUSTOMERS_N * 0.9 * len(SNAPSHOT_DAYS[case]) * 0.5
    assert_frame_equal(new, old, check_exact=True)
    windowed = [c for c in new.columns if c not in (KEY, TS)]
    assert new.select(pl.col(windowed).n_unique()).row(0) > tuple(1 for _ in windowed)


@pytest.mark.parametrize("table", sorted(REFERENCE))
def test_no_snapshot_days_give_the_columns_without_rows(lakehouse: Catalog, table: str) -> None:
    spec = next(s for s in churn.FEATURE_TABLES if s.table.endswith(table))
    inputs = {name: lakehouse.scan(name) for name in spec.inputs}
    empty = spec.build(inputs, []).collect()
    assert empty.height == 0
    assert empty.columns == [KEY, TS, *(f.name for f in spec.features)]


# ---- refresh: bounded chunks, a layout by snapshot day, statistics ---------------------------
ENGAGEMENT = next(s for s in churn.FEATURE_TABLES if s.table.endswith("customer_engagement"))


def _client(catalog: Catalog, folder: Path) -> FeatureEngineeringClient:
    """A feature store on a copy of the shared lakehouse (the refresh writes into it)."""
    shutil.copytree(catalog.root, folder)
    return FeatureEngineeringClient(Catalog(str(folder), "dev"))


def _recording(spec: FeatureTableSpec, calls: list[list[date]]) -> FeatureTableSpec:
    def build(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
        calls.append(list(days))
        return spec.build(inputs, days)
    return replace(spec, build=build)


@dataclass(frozen=True)
class Backfill:
    """The engagement table refreshed over all `BATCHES` in 30-day chunks, in a copy of the
    lakehouse: the client on it, the refresh's report and the snapshot days of each build."""

    client: FeatureEngineeringClient
    report: SnapshotReport
    calls: list[list[date]]


@pytest.fixture(scope="module")
def backfill(lakehouse: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfill]:
    """Shared by the tests that only read it (those that refresh further copy its lakehouse)."""
    calls: list[list[date]] = []
    client = _client(lakehouse, tmp_path_factory.mktemp("backfill") / "lake")
    report = refresh_feature_table(client, _recording(ENGAGEMENT, calls), BATCHES, chunk_days=30)
    yield Backfill(client, report, calls)
    client.close()


def test_backfill_is_built_in_bounded_chunks_equal_to_one_build(
    lakehouse: Catalog, backfill: Backfill
) -> None:
    client, report, calls = backfill.client, backfill.report, backfill.calls
    assert [len(c) for c in calls] == [30, 30, 30, 10]
    assert [d for c in calls for d in c] == report.days == [
        START + timedelta(days=1 + i) for i in range(DAYS)]
    stored = client.read_table(ENGAGEMENT.table).drop(AS_OF).sort(KEY, TS)
    inputs = {name: lakehouse.scan(name) for name in ENGAGEMENT.inputs}
    whole = grid_engagement(inputs, report.days).collect().sort(KEY, TS)
    assert_frame_equal(stored, whole, check_exact=True)
    assert report.rows_written == whole.height


def test_one_day_refresh_rewrites_only_the_redone_days(lakehouse: Catalog, tmp_path: Path) -> None:
    """The backfill lays the table out by snapshot day; refreshing the last day with five late
    days redone replaces the files of those six days and no other."""
    client = _client(lakehouse, tmp_path / "lake")
    refresh_feature_table(client, ENGAGEMENT, BATCHES[:-1])
    table = DeltaTable(client.catalog.location(client.catalog.name(ENGAGEMENT.table)))
    before = set(table.file_uris())
    assert len(before) == DAYS - 1  # one file per snapshot day
    report = refresh_feature_table(client, ENGAGEMENT, BATCHES[-1:],
                                   earliest_touched=date.fromisoformat(BATCHES[-6]))
    assert len(report.days) == 6
    table.update_incremental()
    after = set(table.file_uris())
    removed = before - after
    redone = {d.isoformat() for d in report.days}
    assert len(removed) == 5 and len(after - before) == 6
    assert all(any(day in uri for day in redone) for uri in removed), removed


def test_statistics_of_the_chunks_are_those_of_all_rows(backfill: Backfill) -> None:
    """Four chunks (30, 30, 30 and 10 snapshot days) merged into the statistics of all rows."""
    assert len(backfill.calls) == 4
    rows = backfill.client.read_table(ENGAGEMENT.table)
    table = backfill.report.statistics.table()
    for feature in ("events_7d", "revenue_90d", "activity_trend_mom"):
        got = table.row(by_predicate=pl.col("feature") == feature, named=True)
        column = rows[feature]
        assert got["mean"] == pytest.approx(round(column.mean(), 4), abs=1e-4)
        assert (got["min"], got["max"]) == (str(column.min()), str(column.max()))
        assert got["null_fraction"] == round(column.null_count() / rows.height, 4)


# ---- the kept state: a refresh starts from it, not from the look-back ------------------------
def _spying(spec: FeatureTableSpec, given: list[date | None]) -> FeatureTableSpec:
    """`spec` whose stateful builder records the day of the state each build started from."""
    builder = spec.build
    assert isinstance(builder, state.StatefulBuild)

    def build(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date],
              carried: state.Carried | None, keep: date
              ) -> tuple[pl.LazyFrame, state.Carried | None]:
        given.append(None if carried is None else carried.as_of)
        return builder.build(inputs, days, carried, keep)
    return replace(spec, build=state.StatefulBuild(build, builder.description,
                                                   builder.keep_every))


def _stored_equals_the_reference(client: FeatureEngineeringClient, days: list[date]) -> None:
    stored = client.read_table(ENGAGEMENT.table).drop(AS_OF).sort(KEY, TS)
    inputs = {name: client.catalog.scan(name) for name in ENGAGEMENT.inputs}
    whole = grid_engagement(inputs, days).collect().sort(KEY, TS)
    assert_frame_equal(stored, whole, check_exact=True)


def test_day_by_day_refresh_from_the_kept_state_equals_the_backfill(
    lakehouse: Catalog, tmp_path: Path
) -> None:
    """A backfill of 80 days, then each of the 8 next landing days (with their late records)
    through bronze → gold and a refresh, the last one run twice: each refresh starts from the
    state kept before unless a record landed for a day it holds, writes a newer one only when it
    is `keep_every` days newer (so some start from a state several days old), and the table
    equals, bit for bit, the same refreshes of a builder that keeps no state (a twin table in
    the same lakehouse), whose last day equals the former grid builder's."""
    landing = Path(lakehouse.root).parent / "landing"
    shutil.copytree(_head(lakehouse), tmp_path / "lake")  # the first 80 days through gold
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    client = FeatureEngineeringClient(catalog)
    head, tail = BATCHES[:HEAD], BATCHES[HEAD:HEAD + 8]
    given: list[date | None] = []
    spec = _spying(ENGAGEMENT, given)
    plain = replace(ENGAGEMENT, name="engagement_without_state",
                    build=lambda inputs, days: ENGAGEMENT.build(inputs, days))
    refresh_feature_table(client, plain, head, chunk_days=30)
    backfill = refresh_feature_table(client, spec, head, chunk_days=30)
    assert not catalog.exists(state.state_table(plain.table))
    assert given == [None, backfill.days[29] - timedelta(days=9),
                     backfill.days[59] - timedelta(days=9)]  # chunks 2 and 3 start from one
    kept = state.read(catalog, ENGAGEMENT.table)
    assert kept is not None and kept.as_of == backfill.days[-1] - timedelta(days=9)
    used, older = [], []
    every = timedelta(days=ENGAGEMENT.build.keep_every)
    for i, batch in enumerate([*tail, tail[-1]]):  # the last day twice: a rerun of the day
        if i < len(tail):
            _medallion(catalog, landing, [batch])
        touched = earliest_touched_day(catalog, DOMAIN, [batch])
        before = state.read(catalog, ENGAGEMENT.table)
        refresh_feature_table(client, plain, [batch], touched)
        builds = len(given)
        report = refresh_feature_table(client, spec, [batch], touched)
        assert report.days[-1] == date.fromisoformat(batch) + timedelta(days=1)
        # it starts from the state kept before unless a landed record reaches a day it holds
        # (a later chunk of a long redo starts from the state its first chunk kept)
        fresh = before is not None and (touched is None or touched > before.as_of)
        assert given[builds] == (before.as_of if fresh else None), (batch, touched)
        used.append(fresh)
        newest = report.days[-1] - timedelta(days=9)
        deleted = before is not None and touched is not None and touched <= before.as_of
        written = before is None or deleted or newest >= before.as_of + every
        after = state.read(catalog, ENGAGEMENT.table)
        assert after is not None
        if written:  # a redo of several chunks keeps a chunk's state, < keep_every days old
            assert newest - every < after.as_of <= newest, (batch, touched)
        else:
            assert after.as_of == before.as_of, (batch, touched)
        older.append(fresh and before.as_of < newest - timedelta(days=1))
    assert sum(used) >= len(used) // 2 and not all(used)  # the dirty data has very late records
    assert any(older)  # some refresh started from a state older than one a day before it
    stored = client.read_table(ENGAGEMENT.table).drop(AS_OF).sort(KEY, TS)
    assert_frame_equal(stored, client.read_table(plain.table).drop(AS_OF).sort(KEY, TS),
                       check_exact=True)
    inputs = {name: catalog.scan(name) for name in ENGAGEMENT.inputs}
    last_day = report.days[-1]
    assert_frame_equal(stored.filter(pl.col(TS) == _stamp(last_day)),
                       grid_engagement(inputs, [last_day]).collect().sort(KEY, TS),
                       check_exact=True)
    client.close()


def _stamp(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def test_a_state_touched_by_late_data_or_past_the_first_snapshot_is_not_used(
    lakehouse: Catalog, tmp_path: Path
) -> None:
    """After a backfill, a refresh that redoes days before the state's day reads the look-back
    and leaves the state; one whose landed records reach a day the state holds (late data
    beyond it) deletes it, reads the look-back and keeps a state from the current data. The
    table still equals the reference."""
    client = _client(lakehouse, tmp_path / "lake")
    given: list[date | None] = []
    spec = _spying(ENGAGEMENT, given)
    refresh_feature_table(client, spec, BATCHES)
    kept = state.read(client.catalog, ENGAGEMENT.table)
    assert kept is not None
    refresh_feature_table(client, spec, BATCHES[-20:-19])  # a past day: before the state's day
    assert given[-1] is None  # the state is left as it was: the data did not change
    assert state.read(client.catalog, ENGAGEMENT.table).as_of == kept.as_of
    refresh_feature_table(client, spec, BATCHES[-30:-29], earliest_touched=kept.as_of)
    assert given[-1] is None  # stale: deleted, the look-back read, a state kept from it
    history = [h["operation"] for h in client.catalog.history(state.state_table(spec.table))]
    assert history[:2] == ["WRITE", "DELETE"], history  # newest first
    past = state.read(client.catalog, ENGAGEMENT.table)
    assert past is not None
    # records of the state's day change every later snapshot: redone up to the latest the
    # table holds, so the state kept is as of the same day as the backfill's
    assert past.as_of == kept.as_of
    refresh_feature_table(client, spec, BATCHES[-1:])
    assert given[-1] == past.as_of
    assert state.read(client.catalog, ENGAGEMENT.table).as_of == kept.as_of
    refresh_feature_table(client, spec, BATCHES[-1:], earliest_touched=kept.as_of)
    assert given[-1] is None  # touched: deleted, rebuilt from the look-back
    assert state.read(client.catalog, ENGAGEMENT.table).as_of == kept.as_of
    refresh_feature_table(client, spec, BATCHES[-1:])
    assert given[-1] == kept.as_of
    _stored_equals_the_reference(client, [START + timedelta(days=1 + i) for i in range(DAYS)])
    client.close()


def test_usable_state_ends_before_the_first_snapshot_and_was_not_touched() -> None:
    rows = pl.LazyFrame({KEY: [1], "product_id": ["p"], "day": [date(2026, 3, 1)]})
    carried = state.Carried(rows, date(2026, 3, 1))
    days = [date(2026, 3, 3), date(2026, 3, 4)]  # eves 3/2, 3/3
    assert state.usable(carried, days, None) is carried
    assert state.usable(carried, days, date(2026, 3, 2)) is carried
    assert state.usable(carried, days, date(2026, 3, 1)) is None  # a day it holds changed
    assert state.usable(carried, [date(2026, 3, 2)], None) is None  # eve 3/1: not before
    assert state.usable(None, days, None) is None
    assert state.usable(carried, [], None) is None
    assert state.keep_as_of(days, 7) == date(2026, 2, 23)


def test_a_state_is_written_when_it_is_keep_every_days_newer() -> None:
    kept = date(2026, 3, 1)
    assert state.due(None, kept, 7)  # none kept
    assert not state.due(kept, date(2026, 3, 7), 7)
    assert state.due(kept, date(2026, 3, 8), 7)
    assert state.due(kept, date(2026, 3, 2), 1) and not state.due(kept, kept, 1)
    assert not state.due(kept, date(2026, 2, 20), 1)  # never an older one
    assert not state.due(kept, kept, 0) and state.due(kept, date(2026, 3, 2), 0)


# ---- engagement built in ranges of customers ---------------------------------------------
@pytest.mark.parametrize("case", sorted(SNAPSHOT_DAYS))
def test_engagement_in_customer_ranges_equals_one_build(
    lakehouse: Catalog, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built 37 customers at a time (14 ranges, the last one short), with the kept state of an
    earlier build or without one, the snapshots and the state to keep equal one build of the
    whole population bit for bit, and the rows come out in (customer, time) order."""
    days = SNAPSHOT_DAYS[case]
    inputs = {name: lakehouse.scan(name) for name in ENGAGEMENT.inputs}
    build = ENGAGEMENT.build
    assert isinstance(build, state.StatefulBuild)
    earlier = [min(days) - timedelta(days=20 - i) for i in range(10)]
    keep = state.keep_as_of(days, ENGAGEMENT.max_lateness_days)
    _, kept = build.build(inputs, earlier, None,
                          state.keep_as_of(earlier, ENGAGEMENT.max_lateness_days))
    assert kept is not None
    carried = state.Carried(kept.rows.collect().lazy(), kept.as_of)
    # from no state, then from the earlier build's state unless the snapshot days start within
    # 30 days of the data (the full backfill: a second pass from no state would repeat the first)
    for start in [None, *([carried] if min(days) > START + timedelta(days=30) else [])]:
        out: dict[int, tuple[pl.DataFrame, pl.DataFrame | None]] = {}
        for part in (37, 10**9):
            monkeypatch.setattr(churn, "PART_CUSTOMERS", part)
            lazy, to_keep = build.build(inputs, days, start, keep)
            out[part] = (lazy.collect(), None if to_keep is None else
                         to_keep.rows.collect().sort(KEY, "product_id"))
        ranges, whole = out[37], out[10**9]
        assert_frame_equal(ranges[0], ranges[0].sort(KEY, TS), check_exact=True)
        assert_frame_equal(ranges[0], whole[0].sort(KEY, TS), check_exact=True)
        assert ranges[0].get_column(KEY).n_unique() > 37 * 10
        assert (ranges[1] is None) == (whole[1] is None)
        if ranges[1] is not None:
            assert_frame_equal(ranges[1], whole[1], check_exact=True)
    assert_frame_equal(out[37][0], grid_engagement(inputs, days).collect().sort(KEY, TS),
                       check_exact=True)
