"""The medallion pipeline end to end through Dagster: correctness, idempotency, increments."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.metadata import TABLE_WIDE
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.generator import GenerationReport
from lakehouse_ml.features import state
from lakehouse_ml.ingest.layout import survey
from lakehouse_ml.medallion.changes import earliest_touched_day
from lakehouse_ml.medallion.progress import current_sources, feeding_sources
from lakehouse_ml.medallion.reconcile import reconcile
from tests.conftest import Backfill, day_keys, materialize

VOLATILE = ["_ingested_at"]
STATEFUL = [spec for spec in DOMAIN.feature_tables if isinstance(spec.build, state.StatefulBuild)]
KEPT_STATES = {state.state_table(f"dev.{spec.table}") for spec in STATEFUL}
"""Builders' kept states: written every `keep_every` days, so their day depends on the runs
that wrote them (`kept_states_agree` compares them)."""


def snapshot(catalog: Catalog) -> dict[str, pl.DataFrame]:
    """Every silver and gold table's contents, in a canonical order, minus ingest times (and
    kept states)."""
    tables = {}
    for entry in catalog.tables():
        if ".bronze." in entry.name or ".pipeline." in entry.name:  # raw data, bookkeeping
            continue
        if entry.name in KEPT_STATES:
            continue
        frame = catalog.read(entry.name)
        frame = frame.drop([c for c in VOLATILE if c in frame.columns])
        tables[entry.name] = frame.sort(frame.columns, nulls_last=True)
    return tables


def assert_same_tables(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].equals(right[name]), f"{name} differs"


def kept_states_agree(backfilled: Catalog, daily: Catalog) -> None:
    """Each kept state of the daily runs is at most `keep_every` - 1 days older than the
    backfill's (the snapshots built from it are compared by `assert_same_tables`)."""
    assert STATEFUL
    for spec in STATEFUL:
        one, each = (state.read(c, spec.table) for c in (backfilled, daily))
        assert one is not None and each is not None, spec.table
        assert one.as_of - timedelta(days=spec.build.keep_every) < each.as_of <= one.as_of


@pytest.fixture(scope="module")
def backfilled(backfill: Backfill) -> dict[str, pl.DataFrame]:
    """The shared one-run backfill's silver and gold tables (see `snapshot`)."""
    return snapshot(backfill.catalog)


def test_whole_graph_materializes_with_checks_passing(
    backfill: Backfill, landed: tuple[Path, GenerationReport]
) -> None:
    catalog, landing = backfill.catalog, landed[1]

    assert backfill.success
    evaluations = backfill.check_evaluations()
    blocking = [e for e in evaluations if e.check_name in ("contract", "conservation",
                                                            "expectations")]
    assert len(blocking) == 2 * len(DOMAIN.sources) + len(DOMAIN.aggregates)
    assert all(e.passed for e in blocking), [e for e in blocking if not e.passed]
    # silver holds exactly the distinct valid events the generator says it landed
    silver_events = catalog.read("silver.events")
    assert silver_events["event_id"].is_unique().all()
    assert silver_events.height == landing.clean_records("events")
    gold = catalog.read("gold.daily_activity")
    assert gold.height > 0
    assert gold["events"].sum() == silver_events.height
    materialization = backfill.materializations("silver__customers")[-1]
    schema = materialization.metadata["dagster/column_schema"].value
    assert {c.name: c.tags for c in schema.columns}["email"] == {"pii": ""}
    assert materialization.metadata["dagster/row_count"].value == catalog.read(
        "silver.customers").height


def test_a_ranged_run_puts_table_wide_metadata_on_its_last_partition_only(
    backfill: Backfill,
) -> None:
    """One materialization per partition of the range, each with the table's name, row count
    and version; its schema, column lineage, preview and feature statistics (the same for
    every partition of the run) only on the last, which the UI shows as the latest."""
    for node in ("bronze__customers", "silver__customers", "gold__daily_activity",
                 f"{DOMAIN.feature_tables[0].table.replace('.', '__')}"):
        *earlier, last = backfill.materializations(node)
        assert [m.partition for m in [*earlier, last]] == day_keys(), node
        assert set(TABLE_WIDE) & set(last.metadata) >= {"dagster/column_schema", "preview"}
        for materialization in earlier:
            assert not set(TABLE_WIDE) & set(materialization.metadata), node
            assert materialization.metadata["dagster/row_count"] == last.metadata[
                "dagster/row_count"]
            assert materialization.metadata["delta_version"] == last.metadata["delta_version"]


def test_rerun_ingests_each_file_once_and_changes_nothing(
    backfill: Backfill, backfilled: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    """A second run over every day, on a copy of the backfill's lakehouse (same landing)."""
    shutil.copytree(backfill.settings.root, tmp_path / "lakehouse")
    settings = Settings(str(tmp_path / "lakehouse"), backfill.settings.landing, "dev",
                        f"sqlite:///{tmp_path / 'mlflow.db'}")
    catalog = Catalog(settings.root, settings.env)
    bronze_rows = catalog.read("bronze.events").height

    materialize(settings, day_keys())

    manifest = catalog.read("bronze.events_manifest")
    assert manifest["path"].is_unique().all()
    assert manifest.height == len(survey(settings.landing, "events", day_keys()).files)
    assert catalog.read("bronze.events").height == bronze_rows
    assert_same_tables(backfilled, snapshot(catalog))


def daily_runs(days: list[str]) -> list[list[str]]:
    """The runs of the day-by-day comparison: the first three days one run each (the first
    partition, then days whose folders hold late lines, next-day duplicates and updates of
    days an earlier run wrote), a catch-up run over the days up to the last (as after an
    outage), and the last day alone (late lines and order and ticket updates of days the
    catch-up wrote). One run per day for all 14 days cost two minutes for no other boundary:
    the data has no month boundary, and each run reads only its own days' folders."""
    return [[day] for day in days[:3]] + [days[3:-1], [days[-1]]]


def test_day_by_day_equals_one_backfill(
    backfill: Backfill, backfilled: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    daily = Settings(str(tmp_path / "daily"), backfill.settings.landing, "dev",
                     f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = daily_runs(day_keys())
    assert [day for run in runs for day in run] == day_keys()
    events = backfilled["dev.silver.events"]
    for (day,) in (runs[1], runs[-1]):  # runs that bring events of days an earlier run wrote
        late = events.filter(pl.col("_batch_id") == day,
                             pl.col("event_ts").dt.date() < date.fromisoformat(day))
        assert late.height > 0, day
    for days in runs:
        result = materialize(daily, days)

    catalog = Catalog(daily.root, "dev")
    assert_same_tables(backfilled, snapshot(catalog))
    kept_states_agree(backfill.catalog, catalog)
    # the last run redid, per feature table, only the snapshots that late records of the
    # sources it reads reach (a late ticket redoes support's, not the profile's); the catch-up
    # run's last day landed no customer, and its profile snapshot is there all the same
    # (`snapshots.unbuilt`), as in the backfill
    (last,) = runs[-1]
    redone, reached = {}, {}
    for spec in DOMAIN.feature_tables:
        [materialization] = result.asset_materializations_for_node(spec.table.replace(".", "__"))
        redone[spec.table] = materialization.metadata["snapshot_days"].value
        touched = earliest_touched_day(catalog, DOMAIN, [last], feeding_sources(DOMAIN, spec.table),
                                       current_sources(DOMAIN, spec.table))
        reached[spec.table] = 1 + max(0, (date.fromisoformat(last) - touched).days)
    assert redone == reached
    assert len(set(redone.values())) > 1, redone


def test_dirty_records_all_accounted_for(
    backfill: Backfill, landed: tuple[Path, GenerationReport]
) -> None:
    catalog, landing = backfill.catalog, landed[1]

    dirty = landing.dirty_by_source
    for source in DOMAIN.sources:
        balance = reconcile(catalog, source, day_keys())
        assert balance["balanced"].all(), balance.filter(~pl.col("balanced"))
        assert balance["landed"].sum() == landing.records[source.name]
        assert balance["parse_rejected"].sum() == dirty[source.name]["malformed"]
        assert balance["quarantined"].sum() == (
            dirty[source.name]["wrong_type"] + dirty[source.name]["null_key"]
        )
        rejects = catalog.read(source.rejects_table)
        assert rejects["reason"].str.len_chars().min() > 0 if rejects.height else True
        quarantine = catalog.read(source.quarantine_table)
        assert (quarantine["_reasons"].list.len() > 0).all()
    assert sum(d["malformed"] for d in dirty.values()) > 0
    assert sum(d["wrong_type"] for d in dirty.values()) > 0
    rescued = catalog.read("silver.customers").filter(pl.col("_rescued_data").is_not_null())
    assert rescued["_rescued_data"].str.contains("referral_code").all()
    assert rescued.height > 0
