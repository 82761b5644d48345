"""A kept state is used only when it provably is what `state.write` wrote, and a corrupt one is
never fatal (stranger15 F3, F4). Churn engagement (the stateful builder) refreshed day by day on
a real lakehouse (40 customers, bronze → gold by the engine functions): a state rewritten by
`Catalog.overwrite` with a later `state_as_of` (F3), one whose Parquet files were overwritten
with garbage, or whose last log entry is not JSON (F4), is not used: the refresh gives the
snapshots of a builder that keeps no state (a twin table refreshed the same way), a warning
names the state table, and the refresh keeps a new state which the next refresh starts from.
Real Delta tables; no Dagster."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.domains.churn import DOMAIN as CHURN
from lakehouse_ml.domains.churn import features as churn
from lakehouse_ml.domains.churn.generator import generate
from lakehouse_ml.features import FeatureEngineeringClient, state
from lakehouse_ml.features.snapshots import AS_OF, refresh_feature_table
from lakehouse_ml.features.state import STATE_AS_OF
from lakehouse_ml.lake import Lake
from lakehouse_ml.medallion.changes import earliest_touched_day
from tests.features.test_incremental_snapshots import _medallion, _spying

START, DAYS = date(2026, 1, 1), 42
BATCHES = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
HEAD = DAYS - 2
"""Landing days refreshed before the state is tampered with; the last two land one by one."""
ENGAGEMENT = next(s for s in churn.FEATURE_TABLES if s.table.endswith("customer_engagement"))
PLAIN = replace(ENGAGEMENT, name="engagement_without_state",
                build=lambda inputs, days: ENGAGEMENT.build(inputs, days))
STATE = state.state_table(ENGAGEMENT.table)
LOGGER = "lakehouse_ml.features.state"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING]


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(landing folder, lakehouse root): the first `HEAD` landing days through gold, both
    feature tables refreshed over them, the engagement state kept."""
    folder = tmp_path_factory.mktemp("trust")
    landing = folder / "landing"
    generate(landing, customers=40, days=DAYS, start=START, seed=5, progress=False)
    catalog = Catalog(str(folder / "lake"), "dev")
    _medallion(catalog, landing, BATCHES[:HEAD])
    client = FeatureEngineeringClient(catalog)
    for spec in (ENGAGEMENT, PLAIN):
        refresh_feature_table(client, spec, BATCHES[:HEAD])
    client.close()
    kept = state.read(catalog, ENGAGEMENT.table)
    assert kept is not None
    return landing, folder / "lake"


def _tables(client: FeatureEngineeringClient) -> tuple[pl.DataFrame, pl.DataFrame]:
    return tuple(client.read_table(t).drop(AS_OF).sort(churn.KEY, churn.TS)  # type: ignore[return-value]
                 for t in (ENGAGEMENT.table, PLAIN.table))


def _refresh(catalog: Catalog, client: FeatureEngineeringClient, landing: Path, batch: str,
             given: list[date | None]) -> date | None:
    """Land `batch` through gold, refresh the engagement table (recording the state its build
    starts from in `given`) and its stateless twin; they are equal. Returns the earliest data
    day the batch touched."""
    _medallion(catalog, landing, [batch])
    touched = earliest_touched_day(catalog, CHURN, [batch])
    refresh_feature_table(client, _spying(ENGAGEMENT, given), [batch], touched)
    refresh_feature_table(client, PLAIN, [batch], touched)
    stateful, plain = _tables(client)
    assert stateful.height > 0
    assert_frame_equal(stateful, plain, check_exact=True)
    return touched


SHIFT = timedelta(days=5)
"""How much later than its data the tampered state says it is: still before the day the next
batch touches, so the former rules would have started from it (not deleted it as stale)."""


def _tamper(catalog: Catalog) -> None:
    """F3: the state's rows rewritten by `Catalog.overwrite`, `state_as_of` `SHIFT` later."""
    rows = catalog.read(STATE)
    catalog.overwrite(STATE, rows.with_columns(pl.col(STATE_AS_OF) + SHIFT))


def _garble_files(catalog: Catalog) -> None:
    """F4: every data file of the state overwritten with garbage (one shorter than it was,
    the others of the same size: the log's sizes alone do not tell them)."""
    files = sorted(Path(catalog.location(STATE)).rglob("*.parquet"))
    assert files
    for i, file in enumerate(files):
        size = file.stat().st_size
        file.write_bytes(b"garbage" if i == 0 else b"\x17" * size)


def _garble_same_size(catalog: Catalog) -> None:
    """F4: every data file of the state overwritten with garbage of its own size: only the
    Parquet footer tells it."""
    files = sorted(Path(catalog.location(STATE)).rglob("*.parquet"))
    assert files
    for file in files:
        file.write_bytes(b"\x17" * file.stat().st_size)


def _garble_log(catalog: Catalog) -> None:
    """F4: the state's last `_delta_log/*.json` replaced by `{not json`."""
    last = max((Path(catalog.location(STATE)) / "_delta_log").glob("*.json"))
    last.write_text("{not json")


@pytest.mark.parametrize("spoil", [_tamper, _garble_files, _garble_same_size, _garble_log],
                         ids=["tampered", "garbled-files", "garbled-same-size", "garbled-log"])
def test_an_untrusted_or_corrupt_state_is_not_used_reported_and_replaced(
    head: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture,
    spoil: Callable[[Catalog], None],
) -> None:
    landing, lake = head
    shutil.copytree(lake, tmp_path / "lake")
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    client = FeatureEngineeringClient(catalog)
    kept = state.read(catalog, ENGAGEMENT.table)
    assert kept is not None
    spoil(catalog)
    given: list[date | None] = []

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        touched = _refresh(catalog, client, landing, BATCHES[HEAD], given)
        assert given[0] is None  # not started from the spoiled state: the look-back read
        assert touched is not None and kept.as_of + SHIFT < touched  # not stale: untrusted
        [warned] = _warnings(caplog)
        assert warned.startswith(f"{STATE}: kept state not used, "), warned
        assert "builds from its inputs" in warned
        renewed = state.read(catalog, ENGAGEMENT.table)  # kept again by that refresh, trusted
        assert renewed is not None
        assert renewed.as_of == date.fromisoformat(BATCHES[HEAD]) + timedelta(days=1 - 9)
        assert renewed.rows.collect().height > 0

        _refresh(catalog, client, landing, BATCHES[HEAD + 1], given)
        assert given[-1] == renewed.as_of  # the next refresh starts from the new state
        assert len(_warnings(caplog)) == 1  # the new state is read without a warning
    client.close()


def test_written_by_passes_commits_that_change_no_data_and_stops_at_one_that_does(
        tmp_path: Path) -> None:
    """`Lake.written_by`: the latest commit holding the entry, past an OPTIMIZE (add and
    remove actions whose dataChange is false) and a VACUUM's commits; None once a later
    commit added rows, and when no commit holds it."""
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, pl.Schema({"p": pl.String, "a": pl.Int64}), name="t")
    lake.append(uri, pl.DataFrame({"p": ["x"], "a": [1]}), label="t")
    assert lake.written_by(uri, "k") is None
    written = lake.overwrite(uri, pl.DataFrame({"p": ["y"], "a": [2]}), label="t",
                             predicate="p = 'y'", commit_metadata={"k": {"n": 1}})
    assert lake.written_by(uri, "k") == (written, {"n": 1})
    assert lake.optimize(uri)["numFilesRemoved"] == 2  # the two files compacted into one
    assert lake.vacuum(uri, 0, enforce_retention_duration=False)  # files deleted: commits
    operations = [h["operation"] for h in lake.history(uri)]
    assert operations[:4] == ["VACUUM END", "VACUUM START", "OPTIMIZE", "WRITE"], operations
    assert lake.written_by(uri, "k") == (written, {"n": 1}) and lake.version(uri) == written + 3
    lake.append(uri, pl.DataFrame({"p": ["x"], "a": [3]}), label="t")
    assert lake.written_by(uri, "k") is None


def test_a_state_stays_trusted_after_a_vacuum_and_not_after_an_append(catalog: Catalog) -> None:
    table, day = "gold.engagement", date(2026, 3, 10)
    rows = pl.DataFrame({"cid": [1, 2], "total": [1.0, 2.0]})
    for part in (rows.head(1), rows):
        state.write(catalog, table, state.Carried(part.lazy(), day), "totals", "team:ml")
    name = state.state_table(table)
    assert catalog.vacuum(name, 0, enforce_retention_duration=False)  # the first write's file
    assert [h["operation"] for h in catalog.history(name)][:3] == [
        "VACUUM END", "VACUUM START", "WRITE"]
    found = state.read(catalog, table)
    assert found is not None and found.as_of == day
    assert_frame_equal(found.rows.collect().sort("cid"), rows)
    catalog.append(name, rows.tail(1).with_columns(pl.lit(day).alias(STATE_AS_OF)))
    assert state.read(catalog, table) is None  # appended to: not the state's own write
    assert catalog.read(name).is_empty()


def test_a_state_whose_rows_are_not_those_its_record_says_is_not_used(
        catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    """The write's record is checked against the log: a commit claiming the state's record
    but holding another number of rows, or rows of another day (the column's statistics), is
    not trusted, and the warning says why."""
    table, day = "gold.engagement", date(2026, 3, 10)
    rows = pl.DataFrame({"cid": [1, 2], "total": [1.0, 2.0]})
    state.write(catalog, table, state.Carried(rows.lazy(), day), "totals", "team:ml")
    name = state.state_table(table)
    Lake().overwrite(catalog.location(name), rows.head(1).with_columns(
        pl.lit(day).alias(STATE_AS_OF)), label=name,
        commit_metadata={state.WRITTEN_BY: {"as_of": day.isoformat(), "rows": 2}})
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert state.read(catalog, table) is None
        [message] = _warnings(caplog)
        assert message.startswith(f"{name}: kept state not used, it holds 1 rows, its write")
        assert catalog.read(name).is_empty()  # emptied: the next read is silent
        assert state.read(catalog, table) is None and len(_warnings(caplog)) == 1

        later = day + timedelta(days=6)  # the rows of `day` claiming to be of a later day
        Lake().overwrite(catalog.location(name), rows.with_columns(
            pl.lit(day).alias(STATE_AS_OF)), label=name,
            commit_metadata={state.WRITTEN_BY: {"as_of": later.isoformat(), "rows": 2}})
        assert state.read(catalog, table) is None
        assert _warnings(caplog)[-1].startswith(
            f"{name}: kept state not used, its {STATE_AS_OF} values are not {later}")


@pytest.mark.parametrize("local", [True, False], ids=["path", "file-uri"])
def test_drop_deletes_a_table_whose_log_is_corrupt_so_one_can_be_created_there(
        tmp_path: Path, local: bool) -> None:
    """`Lake.drop`: a local path (its folder) or a URI (through delta-rs' object store, file by
    file, the log first): no table is there afterwards, and a new one is created there."""
    lake, path = Lake(), tmp_path / "t"
    uri = str(path) if local else path.as_uri()
    schema = pl.Schema({"p": pl.String, "a": pl.Int64})
    lake.create(uri, schema, name="t", partition_by=["p"])
    lake.append(uri, pl.DataFrame({"p": ["x", "y"], "a": [1, 2]}), label="t")
    max((path / "_delta_log").glob("*.json")).write_text("{not json")
    lake.drop(uri)
    assert not lake.exists(uri)
    assert not [f for f in path.rglob("*") if f.is_file()]  # no file is left
    lake.create(uri, schema, name="t")
    lake.append(uri, pl.DataFrame({"p": ["z"], "a": [3]}), label="t")
    assert lake.read(uri).to_dicts() == [{"p": "z", "a": 3}]


def test_the_kept_state_is_stored_in_entity_key_order(head: tuple[Path, Path]) -> None:
    """The engagement state is written sorted by the feature table's entity keys, so a build
    reading it one range of customers at a time decodes only those row groups."""
    _, lake = head
    stored = Catalog(str(lake), "dev").read(STATE)
    assert stored.height > 1 and stored[churn.KEY].is_sorted()


def test_state_write_sorts_rows_by_the_keys_in_capped_row_groups(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`state.write` sorts rows given in any order by `sort_by`, in row groups of at most
    `ROW_GROUP_ROWS` rows (two here)."""
    monkeypatch.setattr(state, "ROW_GROUP_ROWS", 2)
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    rows = pl.LazyFrame({"k": [3, 1, 2, 1, 0], "p": [0, 9, 0, 1, 4]})
    state.write(catalog, "gold.sorted", state.Carried(rows, date(2026, 1, 1)), "t", "team:ml",
                ["k"])
    assert catalog.read(state.state_table("gold.sorted"))["k"].to_list() == [0, 1, 1, 2, 3]
    files = DeltaTable(catalog.location(state.state_table("gold.sorted"))).file_uris()
    assert [pq.read_metadata(f).num_row_groups for f in files] == [3]
