"""A feature builder's kept state (`features.state`), its functions called directly as
`make mutation` (group feature-state) mutates them: which day a state is kept as of, when a
newer one is written, when a kept state may be started from, what is read back of the state
table (the rows of its latest day, without `state_as_of`), what a stale state makes `start`
delete, and what `write` registers and stores. Real Delta tables in a temporary lakehouse, no
Dagster (the refreshes through `refresh_feature_table` are tests/features/test_stale_snapshots.py
and test_incremental_snapshots.py: minutes)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError
from polars.testing import assert_frame_equal

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import state
from lakehouse_ml.features.state import STATE_AS_OF, Carried, StatefulBuild

TABLE = "gold.engagement"
D = date(2026, 3, 10)


def rows(ids: list[int], total: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"cid": ids, "total": total}, schema={"cid": pl.Int64, "total": pl.Float64})


def carried(catalog: Catalog, as_of: date, ids: list[int], total: list[float]) -> Carried:
    return state.write(catalog, TABLE, Carried(rows(ids, total).lazy(), as_of), "totals", "team:ml")


def test_state_table_is_the_feature_tables_name_with_state_appended() -> None:
    assert state.state_table(TABLE) == "gold.engagement_state"


def test_keep_as_of_is_the_latest_day_less_lateness_and_two() -> None:
    days = [D, D + timedelta(days=4), D + timedelta(days=1)]  # the latest is not the first
    assert state.keep_as_of(days, 3) == D + timedelta(days=4 - 5)
    assert state.keep_as_of(days, 0) == D + timedelta(days=2)


def test_due_when_none_is_kept_or_every_days_newer_never_older() -> None:
    assert state.due(None, D, 7)
    assert state.due(D, D + timedelta(days=7), 7)
    assert not state.due(D, D + timedelta(days=6), 7)
    assert state.due(D, D + timedelta(days=1), 1)
    for every in (0, -3):  # less than one day is one day: never the same nor an older state
        assert state.due(D, D + timedelta(days=1), every)
        assert not state.due(D, D, every)
        assert not state.due(D, D - timedelta(days=1), every)


def test_usable_ends_before_the_first_snapshots_eve_and_holds_no_day_touched() -> None:
    kept = Carried(pl.LazyFrame(), D)
    days = [D + timedelta(days=5), D + timedelta(days=2), D + timedelta(days=9)]
    assert state.usable(kept, days, None) is kept  # ends the day before the eve of D + 2
    assert state.usable(kept, days[:1], None) is kept
    assert state.usable(None, days, None) is None
    assert state.usable(kept, [], None) is None
    assert state.usable(kept, [D + timedelta(days=1)], None) is None  # the eve itself
    assert state.usable(kept, [D], None) is None
    assert state.usable(kept, days, D) is None  # late data touched the day it ends on
    assert state.usable(kept, days, D - timedelta(days=3)) is None
    assert state.usable(kept, days, D + timedelta(days=1)) is kept


def test_a_stateful_build_called_as_a_plain_builder_starts_from_no_state() -> None:
    calls: list[tuple[object, ...]] = []
    snapshots = pl.LazyFrame({"cid": [1]})

    def build(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date], kept: Carried | None,
              as_of: date) -> tuple[pl.LazyFrame, Carried | None]:
        calls.append((inputs, days, kept, as_of))
        return snapshots, Carried(pl.LazyFrame({"cid": [2]}), D)

    inputs = {"silver.x": pl.LazyFrame({"a": [1]})}
    built = StatefulBuild(build, "totals")
    assert built(inputs, [D]) is snapshots
    assert calls == [(inputs, [D], None, date.min)]
    assert built.keep_every == state.KEEP_EVERY


def test_read_gives_none_without_a_table_or_rows_and_else_the_latest_days_rows(
        catalog: Catalog) -> None:
    assert state.read(catalog, TABLE) is None
    carried(catalog, D, [1], [1.0])
    catalog.delete(state.state_table(TABLE), "true")
    assert state.read(catalog, TABLE) is None  # a table without rows keeps no state

    name = state.state_table(TABLE)
    carried(catalog, D + timedelta(days=3), [2, 3], [2.0, 3.0])
    found = state.read(catalog, TABLE)
    assert found is not None and found.as_of == D + timedelta(days=3)
    assert_frame_equal(found.rows.collect().sort("cid"), rows([2, 3], [2.0, 3.0]))
    # rows of another day appended by another write: not what `write` wrote, not used
    catalog.append(name, rows([1], [1.0]).with_columns(pl.lit(D).alias(STATE_AS_OF)))
    assert state.read(catalog, TABLE) is None


def test_write_registers_the_table_replaces_its_rows_and_returns_them_as_stored(
        catalog: Catalog) -> None:
    first = carried(catalog, D, [1, 2], [1.0, 2.0])
    name = state.state_table(TABLE)
    info = catalog.describe(name).info
    assert info.owner == "team:ml"
    assert info.comment == f"Kept state of {TABLE}'s builder: totals"
    assert info.column_comments == {STATE_AS_OF: "last day of data the rows hold"}
    assert first.as_of == D
    assert_frame_equal(first.rows.collect().sort("cid"), rows([1, 2], [1.0, 2.0]))
    assert catalog.read(name)[STATE_AS_OF].to_list() == [D, D]

    second = carried(catalog, D + timedelta(days=7), [3], [3.0])
    assert second.as_of == D + timedelta(days=7)
    assert_frame_equal(second.rows.collect(), rows([3], [3.0]))  # the rows of now, not of `state`
    assert catalog.read(name).to_dicts() == [
        {"cid": 3, "total": 3.0, STATE_AS_OF: D + timedelta(days=7)}]
    assert catalog.describe(name).info == info  # registered once


@pytest.fixture
def kept(catalog: Catalog) -> Carried:
    return carried(catalog, D, [1, 2], [1.0, 2.0])


def test_start_without_a_state_starts_from_none(catalog: Catalog) -> None:
    assert state.start(catalog, TABLE, [D], None) == (None, None)


def test_start_from_a_usable_state_its_rows_and_day(catalog: Catalog, kept: Carried) -> None:
    for touched in (None, D + timedelta(days=1)):
        found, day = state.start(catalog, TABLE, [D + timedelta(days=4)], touched)
        assert found is not None and found.as_of == D and day == D
        assert_frame_equal(found.rows.collect().sort("cid"), rows([1, 2], [1.0, 2.0]))
    version = catalog.version(state.state_table(TABLE))
    found, day = state.start(catalog, TABLE, [D + timedelta(days=1)], None)  # too late a state
    assert found is None and day == D  # kept, not deleted: a later state replaces it
    assert catalog.version(state.state_table(TABLE)) == version


@pytest.mark.parametrize("touched", [D, D - timedelta(days=2)])
def test_start_deletes_a_state_holding_a_day_late_data_touched(
        catalog: Catalog, kept: Carried, touched: date) -> None:
    assert state.start(catalog, TABLE, [D + timedelta(days=4)], touched) == (None, None)
    assert catalog.read(state.state_table(TABLE)).is_empty()
    assert state.read(catalog, TABLE) is None


def _state_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "lakehouse_ml.features.state" and r.levelno == logging.WARNING]


def _garble(catalog: Catalog, same_size: bool) -> None:
    files = sorted(Path(catalog.location(state.state_table(TABLE))).rglob("*.parquet"))
    assert files
    for file in files:
        file.write_bytes(b"\x17" * file.stat().st_size if same_size else b"garbage")


@pytest.mark.parametrize("same_size", [True, False])
def test_damaged_state_files_are_reported_and_the_table_emptied_then_written_anew(
        catalog: Catalog, caplog: pytest.LogCaptureFixture, same_size: bool) -> None:
    carried(catalog, D, [1, 2], [1.0, 2.0])
    _garble(catalog, same_size)
    with caplog.at_level(logging.WARNING):
        assert state.read(catalog, TABLE) is None
    name = state.state_table(TABLE)
    [warning] = _state_warnings(caplog)
    assert warning.startswith(f"{name}: kept state not used, ")
    assert "data files damaged" in warning
    assert "; emptied it: the refresh builds from its inputs instead" in warning
    assert catalog.read(name).height == 0  # emptied, not dropped: the log is sound
    assert state.read(catalog, TABLE) is None  # no rows: no state, nothing to report
    assert len(_state_warnings(caplog)) == 1
    carried(catalog, D + timedelta(days=1), [3], [3.0])
    found = state.read(catalog, TABLE)
    assert found is not None and found.as_of == D + timedelta(days=1)
    assert_frame_equal(found.rows.collect(), rows([3], [3.0]))


def test_a_state_whose_log_cannot_be_read_loses_its_files_and_is_written_anew(
        catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    carried(catalog, D, [1, 2], [1.0, 2.0])
    name = state.state_table(TABLE)
    location = Path(catalog.location(name))
    last = sorted((location / "_delta_log").glob("*.json"))[-1]
    last.write_text("{not json")
    with pytest.raises(DeltaError) as raised:  # what reading it raises: named in the warning
        DeltaTable(str(location))
    said = str(raised.value).strip().splitlines()[0]
    with caplog.at_level(logging.WARNING):
        assert state.read(catalog, TABLE) is None
    [warning] = _state_warnings(caplog)
    assert warning.startswith(
        f"{name}: kept state not used, unreadable ({type(raised.value).__name__}: {said});")
    assert "; deleted its files: the refresh builds from its inputs instead" in warning
    assert not (location / "_delta_log").exists()
    assert not list(location.rglob("*.parquet"))
    carried(catalog, D, [4], [4.0])
    found = state.read(catalog, TABLE)
    assert found is not None and found.as_of == D
    assert_frame_equal(found.rows.collect(), rows([4], [4.0]))
