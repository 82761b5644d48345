"""The documented daily cycle through the command line (issue 11 item 6): `generate`, `run`,
then `generate --next-day` and `run` with no arguments ingests exactly the new day, every step
succeeding, for a demo starting before the domain's declared start date.

The window is fixed (start, seed, customers), so the model trained on it is the same every day
and passes its gates: `run` succeeds only if batch scoring finds a champion."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.generator import MIN_TRAINABLE_DAYS

runner = CliRunner()
START = DOMAIN.start_date - timedelta(days=40)
"""Before the domain's declared start date: partitions start where the landed data starts."""
LAST = START + timedelta(days=MIN_TRAINABLE_DAYS - 1)
NEW_DAY = LAST + timedelta(days=1)
CUSTOMERS = "200"


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The lakehouse of `settings`, MLflow beside it, an ephemeral Dagster instance."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return Settings.from_env()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), prog_name="lakehouse-ml")
    assert result.exit_code == 0, result.output
    # every step and check, the monitors' drift checks too: nothing drifts in this window
    assert "failed" not in result.output, result.output
    return result.stdout


def manifests(catalog: Catalog) -> dict[str, set[str]]:
    return {s.name: set(catalog.read(s.manifest_table)["path"]) for s in DOMAIN.sources}


def bronze_files(catalog: Catalog, source: str) -> pl.Series:
    return catalog.read(f"bronze.{source}")["_source_file"]


def test_next_day_then_run_without_arguments_ingests_exactly_the_new_day(
    cli_env: Settings,
) -> None:
    catalog = Catalog(cli_env.root, cli_env.env)
    landing = Path(cli_env.landing)
    cli("generate", "--customers", CUSTOMERS, "--days", str(MIN_TRAINABLE_DAYS),
        "--start", START.isoformat())
    cli("run")
    # run refreshes the monitors last: the metric tables are filled
    assert catalog.read("monitoring.gold_customer_engagement_profile_metrics").height
    assert catalog.read("monitoring.churn_predictions_profile_metrics").height
    event_days = catalog.read("silver.events")["event_ts"].dt.date()
    assert (event_days.min(), event_days.max()) == (START, LAST)
    before = manifests(catalog)
    rows = {s.name: bronze_files(catalog, s.name).len() for s in DOMAIN.sources}
    silver = {s.name: set(catalog.read(s.silver_table)["_batch_id"]) for s in DOMAIN.sources}

    out = cli("generate", "--next-day")  # a past day: whatever today is
    assert f"for {NEW_DAY} .. {NEW_DAY}" in out
    new_files = {s.name: {p.relative_to(landing).as_posix()
                          for p in (landing / s.name).glob(f"{NEW_DAY}/*")}
                 for s in DOMAIN.sources}
    assert new_files["events"] and new_files["orders"]

    cli("run")
    after = manifests(catalog)
    for source in DOMAIN.sources:
        name = source.name
        assert after[name] - before[name] == new_files[name], name  # nothing else ingested
        files = bronze_files(catalog, name)
        added = files.filter(~files.is_in(list(before[name])))
        assert set(added) == new_files[name], name
        assert files.len() == rows[name] + added.len(), name
        new_batches = set(catalog.read(source.silver_table)["_batch_id"]) - silver[name]
        assert new_batches == ({NEW_DAY.isoformat()} if new_files[name] else set()), name
    snapshot = pl.lit(NEW_DAY + timedelta(days=1)).cast(pl.Datetime("us", "UTC"))
    for spec in DOMAIN.feature_tables:
        assert catalog.read(spec.table).filter(pl.col(spec.timestamp_key) == snapshot).height
