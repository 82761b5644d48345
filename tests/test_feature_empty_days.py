"""Feature steps for days whose inputs hold no rows, or for no days at all, answer without
crashing and write nothing (issue 11 item 6)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.features import FEATURE_TABLES, KEY, TS
from lakehouse_ml.domains.churn.generator import generate
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.snapshots import snapshot_days

START, DAYS = date(2026, 3, 1), 3
LAST = START + timedelta(days=DAYS - 1)


def run_range(settings: Settings, first: str, last: str) -> dg.ExecuteInProcessResult:
    """Every medallion and feature asset of churn over [first, last] as one Dagster run."""
    return dg.materialize(
        [*medallion_assets(DOMAIN), *feature_assets(DOMAIN, daily_partitions(DOMAIN))],
        resources={"lakehouse": LakehouseResource.from_settings(settings)},
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        raise_on_error=False,
    )


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [f"{e.step_key}: {e.event_specific_data.error.message.splitlines()[-1]}"
            for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A lakehouse holding three days of a small demo, every step materialized once."""
    tmp = tmp_path_factory.mktemp("empty_days")
    settings = Settings(root=str(tmp / "lakehouse"), landing=str(tmp / "landing"), env="dev",
                        mlflow_tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    generate(Path(settings.landing), customers=25, days=DAYS, start=START, seed=5,
             progress=False)
    result = run_range(settings, START.isoformat(), LAST.isoformat())
    assert result.success, failures(result)
    return settings


def test_builders_given_no_days_return_their_columns_without_rows(lakehouse: Settings) -> None:
    catalog = Catalog(lakehouse.root, lakehouse.env)
    for spec in FEATURE_TABLES:
        frame = spec.build({name: catalog.scan(name) for name in spec.inputs}, []).collect()
        assert frame.height == 0, spec.name
        assert frame.columns == [KEY, TS, *(f.name for f in spec.features)], spec.name
        assert frame.schema[TS] == pl.Datetime("us", "UTC")


def test_no_partition_days_give_no_snapshot_days() -> None:
    assert snapshot_days([], None) == []
    assert snapshot_days([], START, first_day=START) == []  # late data alone redo nothing


def test_an_empty_partition_range_succeeds_and_writes_nothing(lakehouse: Settings) -> None:
    catalog = Catalog(lakehouse.root, lakehouse.env)
    before = {spec.table: catalog.version(spec.table) for spec in FEATURE_TABLES}
    result = run_range(lakehouse, LAST.isoformat(), START.isoformat())  # end before start
    assert result.success, failures(result)
    assert {spec.table: catalog.version(spec.table) for spec in FEATURE_TABLES} == before


def test_a_day_without_landed_files_succeeds_and_writes_nothing(lakehouse: Settings) -> None:
    """No file landed on that day, so no batch of it is new to a feature step: each one runs
    with no partition days and answers without writing (the snapshots stay as they were)."""
    catalog = Catalog(lakehouse.root, lakehouse.env)
    before = {spec.table: catalog.version(spec.table) for spec in FEATURE_TABLES}
    beyond = (LAST + timedelta(days=1)).isoformat()
    result = run_range(lakehouse, beyond, beyond)
    assert result.success, failures(result)
    assert {spec.table: catalog.version(spec.table) for spec in FEATURE_TABLES} == before


def test_merging_no_rows_into_a_feature_table_commits_nothing(lakehouse: Settings) -> None:
    client = FeatureEngineeringClient(Catalog(lakehouse.root, lakehouse.env))
    table = "gold.customer_recency"
    version = client.catalog.version(table)
    empty = client.read_table(table).clear()
    assert client.write_table(table, empty) == version
    assert client.catalog.version(table) == version
