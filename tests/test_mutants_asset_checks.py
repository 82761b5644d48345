"""What a Dagster user sees of the medallion assets and their checks, exactly: the partition
window (first and last day), each check's declared description, the `landing_layout` and
`unique_keys` results (severity, description, metadata), which runs count a batch as processed,
the column lineage, and the moved-key zones silver is given (`defs/factories/medallion.py`).

Written against the survivors of the `asset-checks` mutation run of 2026-12-01 (issue 8; see
`bench/MUTATION.md`, "Survivors explained").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.medallion import (
    _strays,
    _unique_keys,
    daily_partitions,
    future_folders,
    landed_days,
    medallion_assets,
)
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.ingest.layout import Stray
from lakehouse_ml.medallion.spec import Domain
from tests.boundary_domain import DAY1, DAY2, HOTTEST, READINGS, SENSORS, land, reading

HOTTEST_LINEAGE = replace(HOTTEST, column_lineage={"day": (("readings", "measured_at"),),
                                                   "max_celsius": (("readings", "celsius"),)})
SENSORS_LINEAGE = replace(SENSORS, aggregates=(HOTTEST_LINEAGE,))
"""SENSORS whose aggregate declares its column lineage (HOTTEST declares none)."""


def today() -> date:
    return datetime.now(UTC).date()


def land_days(landing: str, days: list[date], source: str = "readings") -> None:
    for day in days:
        (Path(landing) / source / day.isoformat()).mkdir(parents=True)


def window(partitions: dg.DailyPartitionsDefinition) -> tuple[str | None, str | None, str]:
    return (partitions.get_first_partition_key(), partitions.get_last_partition_key(),
            partitions.timezone)


# daily_partitions: the partition window


def test_without_landing_the_window_runs_from_the_start_date_through_today_utc(
    settings: Settings,
) -> None:
    expected = ("2026-01-01", today().isoformat(), "UTC")
    assert window(daily_partitions(SENSORS)) == expected
    assert window(daily_partitions(SENSORS, settings.landing)) == expected  # nothing landed
    land_days(settings.landing, [date(2026, 3, 1)], source="other_domains_source")
    assert window(daily_partitions(SENSORS, settings.landing)) == expected
    last = daily_partitions(SENSORS).get_last_partition_window()
    assert (last.start, last.end) == (
        datetime.combine(today(), datetime.min.time(), UTC),
        datetime.combine(today() + timedelta(days=1), datetime.min.time(), UTC))


def test_the_window_runs_from_the_first_landed_day_through_the_last_when_it_is_later(
    settings: Settings,
) -> None:
    """Up to tomorrow (UTC): a later day folder (today + 3, a mistyped day) is left out."""
    days = [today() - timedelta(days=40), today() + timedelta(days=1), today() + timedelta(days=3)]
    land_days(settings.landing, [days[2], days[0], days[1]])
    (Path(settings.landing) / "readings" / "not-a-day").mkdir()
    assert landed_days(settings.landing, SENSORS) == [d.isoformat() for d in days[:2]]
    assert future_folders(settings.landing, SENSORS) == [f"readings/{days[2].isoformat()}/"]
    assert window(daily_partitions(SENSORS, settings.landing)) == (
        days[0].isoformat(), days[1].isoformat(), "UTC")


@pytest.mark.parametrize("ahead", [-3, 0, 1])
def test_a_last_landed_day_up_to_tomorrow_ends_the_window_on_today_or_tomorrow(
    settings: Settings, ahead: int
) -> None:
    first, last = today() - timedelta(days=10), today() + timedelta(days=ahead)
    land_days(settings.landing, [first, last])
    assert window(daily_partitions(SENSORS, settings.landing)) == (
        first.isoformat(), max(today(), last).isoformat(), "UTC")


@pytest.fixture
def local_zone_off_utc() -> Iterator[str]:
    """The process's local time zone set (TZ) to one whose date is not today's in UTC."""
    zone = "Etc/GMT-14" if datetime.now(UTC).hour >= 10 else "Etc/GMT+12"  # UTC+14 / UTC-12
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield zone
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_days_ahead_are_counted_from_today_in_utc_not_in_the_local_zone(
    settings: Settings, local_zone_off_utc: str
) -> None:
    """Tomorrow (UTC) is the last day folder run, today + 2 is left out, in any local zone."""
    assert datetime.now().date() != today(), local_zone_off_utc
    last = today() + timedelta(days=1)
    land_days(settings.landing, [date(2026, 1, 5), last, last + timedelta(days=1)])
    assert window(daily_partitions(SENSORS, settings.landing)) == (
        "2026-01-05", last.isoformat(), "UTC")


# the definitions: check specs and partitions


def test_every_check_is_declared_with_its_description_and_whether_it_blocks() -> None:
    specs = {(s.key.asset_key.to_user_string(), s.name): (s.description, s.blocking)
             for asset in medallion_assets(SENSORS) for s in asset.check_specs}
    assert specs == {
        ("bronze/readings", "parse_rejects"): (
            "Lines that could not be parsed are kept in bronze.readings_rejects with the "
            "reason.", False),
        ("bronze/readings", "landing_layout"): (
            "Every path under landing/readings/ is ingested or listed here with the reason "
            "(outside the layout, a link, unreadable); paths at the landing root that no "
            "domain declares are listed under undeclared_folders, without deciding the "
            "check.", False),
        ("silver/readings", "contract"): (
            "Share of rows refused by the contract stays under 25% (blocks from 4 rows read).",
            True),
        ("silver/readings", "conservation"): (
            "landed = parse rejects + quarantined + silver + collapsed duplicates, per batch; "
            "nothing lost.", True),
        ("silver/readings", "unique_keys"): (
            "One silver row per primary key ['reading_id']; names the keys held twice.", True),
        ("gold/hottest", "expectations"): (
            "Great Expectations suite on the days written: expect_column_values_to_be_between",
            True),
    }


def test_an_aggregate_without_expectations_has_no_expectations_check(
        settings: Settings) -> None:
    """A suite of nothing would pass without checking anything: no check is declared, and
    its run reports none (a stranger saw `expectations: passed` on such an aggregate)."""
    bare = replace(SENSORS, aggregates=(replace(HOTTEST, expectations=()),))
    (gold,) = [a for a in medallion_assets(bare) if a.key.path[0] == "gold"]
    assert list(gold.check_specs) == []
    land(settings.landing, DAY1, [reading("r1", celsius=10.0)])
    result = run(settings, DAY1, bare)
    assert result.success
    assert [e.check_name for e in result.get_asset_check_evaluations()
            if e.asset_key == gold.key] == []


def test_expectations_with_no_day_recomputed_fail_as_a_warning_saying_why(
        settings: Settings) -> None:
    """A re-run that recomputes no day has nothing to validate: its `expectations` check
    fails as a WARN (no pass without a check) saying why, the run goes on, and the day stays
    processed (a third run recomputes nothing either)."""
    land(settings.landing, DAY1, [reading("r1", celsius=10.0)])
    first = evaluation(run(settings, DAY1), "expectations")
    assert (first.passed, values(first)["days_validated"]) == (True, 1)
    for _ in range(2):
        again = run(settings, DAY1)
        assert again.success
        found = evaluation(again, "expectations")
        assert (found.passed, found.severity, found.description, values(found)) == (
            False, dg.AssetCheckSeverity.WARN, "no day recomputed: nothing validated (each "
            "day's last evaluation stands)", {"days_validated": 0})
        assert metadata(again, "gold__hottest")["days_recomputed"] == 0


def test_bronze_silver_and_gold_share_the_partitions_they_are_given() -> None:
    partitions = daily_partitions(SENSORS)
    assets = medallion_assets(SENSORS, partitions)
    assert [a.key.to_user_string() for a in assets] == [
        "bronze/readings", "silver/readings", "gold/hottest"]
    assert all(a.partitions_def is partitions for a in assets)


# landing_layout (bronze)


def run(settings: Settings, day: str, domain: Domain = SENSORS, layers: int = 3
        ) -> dg.ExecuteInProcessResult:
    """Dagster's `materialize` of the domain's first `layers` assets (bronze, silver, gold)
    for the partition `day`."""
    return dg.materialize(medallion_assets(domain)[:layers], partition_key=day,
                          resources={"lakehouse": LakehouseResource.from_settings(settings)},
                          raise_on_error=False)


def evaluation(result: dg.ExecuteInProcessResult, check: str) -> dg.AssetCheckEvaluation:
    (found,) = [e for e in result.get_asset_check_evaluations() if e.check_name == check]
    return found


def values(event: dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.AssetMaterialization
           ) -> dict[str, object]:
    """The event's metadata as the UI shows it: name → value."""
    return {k: v.value for k, v in event.metadata.items()}


def metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, object]:
    (materialization,) = result.asset_materializations_for_node(node)
    return values(materialization)


def test_landing_layout_lists_each_path_not_ingested_with_its_reason(settings: Settings) -> None:
    land(settings.landing, DAY1, [reading("r1")])
    land(settings.landing, f"{DAY1}/nested", [reading("r2")])
    land(settings.landing, "2025-12-31", [reading("r3")])  # before the first partition
    found = evaluation(run(settings, DAY1, layers=1), "landing_layout")
    assert (found.passed, found.severity, found.description) == (
        False, dg.AssetCheckSeverity.WARN, None)
    assert values(found) == {"not_ingested": 2, "paths": "\n".join([
        "| path | reason |", "|---|---|",
        f"| readings/{DAY1}/nested/part-0.jsonl | in a sub-folder of readings/{DAY1}/: only "
        "files directly… |",  # a value is cut after 60 characters
        "| readings/2025-12-31/part-0.jsonl | a day before the first partition 2026-01-01: "
        "never run |"])}


def test_landing_layout_names_days_before_a_first_partition_that_began_after_loading(
    settings: Settings,
) -> None:
    """Definitions loaded before the domain's start date (no partition yet) and run once it
    has begun, as a code server that was not reloaded does: a day landed before the start
    date is never run, so the check lists it."""
    domain = replace(SENSORS, start_date=date.fromisoformat(DAY1))
    with dg.partition_loading_context(effective_dt=datetime(2026, 1, 20, tzinfo=UTC)):
        assets = medallion_assets(domain)
        assert assets[0].partitions_def.get_first_partition_key() is None
    land(settings.landing, DAY1, [reading("r1")])
    land(settings.landing, "2026-01-31", [reading("r0")])
    result = dg.materialize(assets[:1], partition_key=DAY1, raise_on_error=False,
                            resources={"lakehouse": LakehouseResource.from_settings(settings)})
    found = evaluation(result, "landing_layout")
    assert (found.passed, values(found)) == (False, {"not_ingested": 1, "paths": "\n".join([
        "| path | reason |", "|---|---|",
        "| readings/2026-01-31/part-0.jsonl | a day before the first partition 2026-02-01: "
        "never run |"])})


def test_landing_layout_shows_the_first_50_strays_and_counts_all() -> None:
    strays = [Stray(f"x/{n:02}", f"reason {n}") for n in range(51)]
    result = _strays(strays)
    assert (result.check_name, result.passed, result.severity) == (
        "landing_layout", False, dg.AssetCheckSeverity.WARN)
    assert values(result) == {"not_ingested": 51, "paths": "\n".join(
        ["| path | reason |", "|---|---|", *(f"| x/{n:02} | reason {n} |" for n in range(50))])}


def test_landing_layout_passes_with_an_empty_table_when_nothing_strays() -> None:
    result = _strays([])
    assert (result.passed, values(result)) == (
        True, {"not_ingested": 0, "paths": "| path | reason |\n|---|---|"})


# unique_keys (silver)


def duplicates(keys: dict[str, list], rows: list[int]) -> pl.DataFrame:
    """As `medallion.silver.duplicate_keys` returns them: (keys..., rows), sorted by key."""
    return pl.DataFrame({**keys, "rows": pl.Series(rows, dtype=pl.UInt32)})


def test_unique_keys_names_the_first_ten_keys_held_more_than_once() -> None:
    ids = [f"r{n:02}" for n in range(11)]
    result = _unique_keys(READINGS, duplicates({"reading_id": ids}, [2] * 10 + [3]))
    assert (result.check_name, result.passed, result.severity) == (
        "unique_keys", False, dg.AssetCheckSeverity.ERROR)
    assert result.description == "silver.readings holds 11 key(s) more than once: " + "; ".join(
        f"reading_id='{i}' (2 rows)" for i in ids[:10])
    assert values(result) == {
        "duplicate_keys": 11, "sample": "\n".join(
            ["| reading_id | rows |", "|---|---|", *(f"| {i} | 2 |" for i in ids[:5])])}


def test_unique_keys_names_every_column_of_a_composite_key() -> None:
    source = replace(READINGS, primary_key=("reading_id", "version"))
    result = _unique_keys(source, duplicates({"reading_id": ["r1", "r2"], "version": [1, 2]},
                                             [3, 2]))
    assert result.description == ("silver.readings holds 2 key(s) more than once: "
                                  "reading_id='r1', version=1 (3 rows); "
                                  "reading_id='r2', version=2 (2 rows)")


def test_unique_keys_passes_without_a_description_when_every_key_is_unique() -> None:
    result = _unique_keys(READINGS, duplicates({"reading_id": pl.Series([], dtype=pl.String)},
                                               []))
    assert (result.passed, result.description) == (True, None)
    assert values(result) == {
        "duplicate_keys": 0, "sample": "| reading_id | rows |\n|---|---|"}


# which runs count their batches as processed (_nothing_blocks)


GOOD = [reading("r1", celsius=10.0), reading("r2", celsius=20.0), reading("r3", celsius=30.0),
        reading("r4", celsius=40.0)]


@pytest.mark.parametrize(("rows", "severity", "processed"), [
    (GOOD, None, True),
    ([GOOD[0], reading("b1", celsius="hot")], dg.AssetCheckSeverity.WARN, True),
    ([*GOOD[:2], reading("b1", celsius="hot"), reading("b2", celsius=999.0)],
     dg.AssetCheckSeverity.ERROR, False),
], ids=["passed", "failed-warn", "failed-error"])
def test_only_a_failed_error_check_leaves_the_batch_to_the_next_run(
    settings: Settings, rows: list[dict], severity: dg.AssetCheckSeverity | None,
    processed: bool,
) -> None:
    land(settings.landing, DAY1, rows)
    first = evaluation(run(settings, DAY1, layers=2), "contract")
    assert (first.passed, first.severity) == (
        (True, dg.AssetCheckSeverity.ERROR) if severity is None else (False, severity))
    again = metadata(run(settings, DAY1, layers=2), "silver__readings")
    assert (again["batches_unchanged"], again["rows_read"]) == (
        (1, 0) if processed else (0, len(rows)))


# lineage and moved keys (silver, gold)


def test_a_key_moved_to_another_day_leaves_its_old_gold_day_and_lineage_is_shown(
    settings: Settings, catalog: Catalog
) -> None:
    land(settings.landing, DAY1, [reading("r1", celsius=40.0), reading("r2", celsius=20.0)])
    first = run(settings, DAY1, domain=SENSORS_LINEAGE)
    land(settings.landing, DAY2, [reading("r1", version=2, celsius=40.0, at=f"{DAY2}T01:00:00Z")])
    second = run(settings, DAY2, domain=SENSORS_LINEAGE)
    assert first.success and second.success
    assert catalog.read(HOTTEST.table).sort("day").rows() == [
        (date(2026, 2, 1), 20.0), (date(2026, 2, 2), 40.0)]
    silver = metadata(first, "silver__readings")["dagster/column_lineage"]
    assert silver.deps_by_column == {
        c: [dg.TableColumnDep(asset_key=dg.AssetKey(["bronze", "readings"]), column_name=c)]
        for c in ("reading_id", "version", "measured_at", "celsius")}
    gold = metadata(first, "gold__hottest")["dagster/column_lineage"]
    assert gold.deps_by_column == {
        "day": [dg.TableColumnDep(asset_key=dg.AssetKey(["silver", "readings"]),
                                  column_name="measured_at")],
        "max_celsius": [dg.TableColumnDep(asset_key=dg.AssetKey(["silver", "readings"]),
                                          column_name="celsius")]}
