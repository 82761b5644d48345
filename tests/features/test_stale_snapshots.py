"""Late data older than a feature table's `max_lateness_days` (stranger11c #3): a key moved out
of (or into) a data day older than that changes every snapshot after that day, and a refresh
redoes them all, so day-by-day refreshes give the tables of one backfill. The kept state of a
stateful builder holds that day: it is deleted and the refresh builds from its inputs, while
late data within `max_lateness_days` start from it. Before, only the last
`max_lateness_days` snapshots were redone and the older ones stayed stale."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN as CHURN
from lakehouse_ml.domains.churn import features as churn
from lakehouse_ml.domains.churn.generator import generate
from lakehouse_ml.features import FeatureEngineeringClient, snapshot_time, state
from lakehouse_ml.features.snapshots import refresh_feature_table
from lakehouse_ml.medallion.changes import earliest_touched_day
from lakehouse_ml.medallion.spec import FeatureTableSpec
from tests.conftest import materialize
from tests.features.test_incremental_snapshots import _medallion, _spying
from tests.test_feature_time_zone import FERRY, ZONE
from tests.test_gold_time_zone import lakehouse, land

# ---- a plain builder, through the Dagster assets (ferry: New York days) -----------------------
START = date(2026, 11, 1)
DOMAIN = replace(FERRY, start_date=START)
DAYS = [(START + timedelta(days=i)).isoformat() for i in range(21)]  # 11-01 .. 11-21
LATE = DAYS[-1]
"""The batch landing late records, 16 to 18 days after the days they move keys out of or into."""

MOVES = {  # crossings re-landed with LATE: key -> new departure (UTC)
    "out of an old day": {"c2": "2026-11-20T20:00:00Z"},  # c2 left New York's 11-03
    "into an old day": {"c18": "2026-11-04T15:00:00Z"},  # c18 left 11-19 for 11-04
    "before the first partition": {"c5": "2026-10-28T15:00:00Z"},  # 11-06 -> 10-28
}


def _crossing(i: int, departed_at: str) -> dict[str, str]:
    return {"crossing_id": f"c{i}", "vessel": "v0", "departed_at": departed_at}


def _week(settings: Settings) -> pl.DataFrame:
    return Catalog(settings.root, settings.env).read("gold.vessel_week").sort("feature_ts")


@pytest.fixture(scope="module")
def first_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One crossing a day (15:00 UTC, New York's same day) from 11-01 to 11-20 landed in
    `landing` and refreshed in one run into `daily`: the same for every move (only `LATE`
    differs), so run once for the module; each test copies both."""
    folder = tmp_path_factory.mktemp("ferry")
    for i, day in enumerate(DAYS[:-1]):
        land(folder / "landing", "crossings", day, [_crossing(i, f"{day}T15:00:00Z")])
    assert materialize(lakehouse(folder, "daily", folder / "landing"), DAYS[:-1],
                       domain=DOMAIN).success
    return folder


@pytest.mark.parametrize("move", sorted(MOVES))
def test_a_key_moved_by_old_late_data_redoes_every_snapshot_it_changes(
    first_days: Path, tmp_path: Path, move: str
) -> None:
    """One crossing a day (15:00 UTC, New York's same day) from 11-01 to 11-20; 11-21 lands a
    crossing of its own and one moved (`MOVES`). Refreshed day by day (11-01 .. 11-20 in one
    run, `first_days`, then 11-21) the feature table equals one backfill of the 21 days, and
    the snapshots around the old day count the crossing where it now is."""
    landing = tmp_path / "landing"
    shutil.copytree(first_days / "landing", landing)
    shutil.copytree(first_days / "daily", tmp_path / "daily")
    [(key, departed_at)] = MOVES[move].items()
    land(landing, "crossings", LATE, [_crossing(20, f"{LATE}T15:00:00Z"),
                                      _crossing(int(key[1:]), departed_at)])
    daily, backfill = (lakehouse(tmp_path, name, landing) for name in ("daily", "backfill"))
    assert materialize(daily, [LATE], domain=DOMAIN).success
    assert materialize(backfill, DAYS, domain=DOMAIN).success

    week = _week(daily)
    assert_frame_equal(week, _week(backfill), check_exact=True)
    counts = dict(zip(week["feature_ts"], week["crossings_7d"], strict=True))
    at = {d: counts.get(snapshot_time(date(2026, 11, d), ZONE)) for d in (4, 5, 10, 11, 12)}
    if move == "out of an old day":  # 11-03 lost its crossing: the 7 snapshots after it
        assert at == {4: 2, 5: 3, 10: 6, 11: 7, 12: 7}
    elif move == "into an old day":  # 11-04 has two
        assert at == {4: 3, 5: 5, 10: 8, 11: 8, 12: 7}
    else:  # no snapshot before the first partition's (11-02) is created, as in a backfill
        assert min(counts) == snapshot_time(date(2026, 11, 2), ZONE)
        assert at == {4: 4, 5: 4, 10: 6, 11: 6, 12: 6}  # 10-28 gained, 11-06 lost it


# ---- a stateful builder (churn engagement) and a plain one (recency), by the engine ------------
CHURN_START, CHURN_DAYS = date(2026, 1, 1), 41
BATCHES = [(CHURN_START + timedelta(days=i)).isoformat() for i in range(CHURN_DAYS)]
OLD, RECENT = BATCHES[-2], BATCHES[-1]
"""Landing days of an event moved 30 days, far beyond `max_lateness_days` (7), and of one moved
3 days, within it."""
ENGAGEMENT, RECENCY = (next(s for s in churn.FEATURE_TABLES if s.table.endswith(name))
                       for name in ("customer_engagement", "customer_recency"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("churn") / "landing"
    generate(landing, customers=40, days=CHURN_DAYS, start=CHURN_START, seed=5, progress=False)
    return landing


@pytest.fixture(scope="module")
def first_batches(generated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 39 landing days at once: bronze → gold by the engine, then engagement
    (stateful: a state kept) and recency refreshed over them, in a lakehouse `lake`. The same
    for every move (the moves land with `OLD` and `RECENT` only), so built once for the
    module; each test copies it."""
    lake = tmp_path_factory.mktemp("first-batches") / "lake"
    catalog = Catalog(str(lake), "dev")
    client = FeatureEngineeringClient(catalog)
    _medallion(catalog, generated, BATCHES[:-2])
    touched = earliest_touched_day(catalog, CHURN, BATCHES[:-2])
    for spec in (ENGAGEMENT, RECENCY):
        refresh_feature_table(client, spec, BATCHES[:-2], touched)
    client.close()
    return lake


def _events(landing: Path, batch: str) -> list[dict]:
    [part] = (landing / "events" / batch).glob("part-*.json")
    return [json.loads(line) for line in part.read_text().splitlines()]


def _purchase(landing: Path, batch: str) -> dict:
    return next(e for e in _events(landing, batch) if e["event_type"] == "purchase"
                and e["product_id"] is not None)


def _relanded(landing: Path, batch: str, event: dict, day: date) -> None:
    """`event` landed again with `batch`, its time moved to noon UTC of `day`."""
    moved = {**event, "event_ts": f"{day.isoformat()}T12:00:00Z"}
    (landing / "events" / batch / "part-late.json").write_text(json.dumps(moved) + "\n")


def _state_history(catalog: Catalog) -> list[str]:
    """The operations on the kept state of the engagement table, newest first."""
    return [h["operation"] for h in catalog.history(state.state_table(ENGAGEMENT.table))]


def _table(client: FeatureEngineeringClient, spec: FeatureTableSpec) -> pl.DataFrame:
    return client.read_table(spec.table).sort(churn.KEY, churn.TS)


@pytest.mark.parametrize("move", ["out of an old day", "into an old day"])
def test_stateful_and_plain_tables_refreshed_day_by_day_equal_one_backfill(
    generated: Path, first_batches: Path, tmp_path: Path, move: str
) -> None:
    """40 customers x 41 days. Day by day: the first 39 landing days at once (a state kept),
    then `OLD` lands a purchase moved 30 days (out of 01-10 to `OLD`'s day, or from the day
    before into 01-10), then `RECENT` one moved 3 days. The old move touches a day the kept
    state holds: the refresh deletes it, builds from the inputs and keeps a new one (in 30-day
    chunks); the recent move starts from that one. Engagement (stateful) and recency (plain)
    then equal, bit for bit, twin tables refreshed once over the 41 days. The first 39 days
    are `first_batches`' (copied)."""
    landing = tmp_path / "landing"
    shutil.copytree(generated, landing)
    old_day = CHURN_START + timedelta(days=9)  # 01-10, 30 days before OLD
    if move == "out of an old day":
        _relanded(landing, OLD, _purchase(landing, old_day.isoformat()), date.fromisoformat(OLD))
    else:
        _relanded(landing, OLD, _purchase(landing, BATCHES[-3]), old_day)
    recent_day = date.fromisoformat(RECENT) - timedelta(days=3)
    _relanded(landing, RECENT, _purchase(landing, recent_day.isoformat()),
              date.fromisoformat(RECENT))
    shutil.copytree(first_batches, tmp_path / "lake")
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    client = FeatureEngineeringClient(catalog)
    given: list[date | None] = []
    stateful = _spying(ENGAGEMENT, given)

    kept = state.read(catalog, ENGAGEMENT.table)
    assert kept is not None and kept.as_of > old_day

    _medallion(catalog, landing, [OLD])
    touched = earliest_touched_day(catalog, CHURN, [OLD])
    assert touched == old_day
    builds, versions = len(given), len(_state_history(catalog))
    for spec in (stateful, RECENCY):
        report = refresh_feature_table(client, spec, [OLD], touched)
        assert report.days[0] == old_day + timedelta(days=1)  # 31 days, not 8
        assert report.days[-1] == date.fromisoformat(OLD) + timedelta(days=1)
    # the state held 01-10's old values: deleted, the first chunk (30 days) built from the
    # inputs, the second from the state the first kept, whose state (one day newer) is not
    # written: a state is kept again when it is `keep_every` days newer
    first_kept = report.days[29] - timedelta(days=9)
    assert given[builds:] == [None, first_kept]
    operations = _state_history(catalog)[:len(_state_history(catalog)) - versions]
    assert operations == ["WRITE", "DELETE"], operations  # newest first
    renewed = state.read(catalog, ENGAGEMENT.table)
    assert report.days[-1] - timedelta(days=9) < first_kept + timedelta(
        days=ENGAGEMENT.build.keep_every)
    assert renewed is not None and renewed.as_of == first_kept

    _medallion(catalog, landing, [RECENT])
    touched = earliest_touched_day(catalog, CHURN, [RECENT])
    assert touched == recent_day and touched > renewed.as_of
    for spec in (stateful, RECENCY):
        report = refresh_feature_table(client, spec, [RECENT], touched)
        assert report.days[0] == recent_day + timedelta(days=1)
    assert given[-1] == renewed.as_of  # within max_lateness_days: started from the state

    twins = [replace(spec, name=f"{spec.name}_backfill") for spec in (ENGAGEMENT, RECENCY)]
    everything = earliest_touched_day(catalog, CHURN, BATCHES)
    for spec, twin in zip((ENGAGEMENT, RECENCY), twins, strict=True):
        refresh_feature_table(client, twin, BATCHES, everything)
        assert_frame_equal(_table(client, spec), _table(client, twin), check_exact=True)
    client.close()
