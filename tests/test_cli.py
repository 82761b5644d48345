"""The `lakehouse-ml` commands a user types, run through typer's runner on a real lakehouse."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.generator import MIN_TRAINABLE_DAYS, GenerationReport
from tests.conftest import day_keys, materialize

runner = CliRunner()


def test_tables_history_and_read(
    settings: Settings, catalog: Catalog, landing: GenerationReport
) -> None:
    materialize(settings, day_keys()[:2])
    materialize(settings, day_keys()[2:4])

    listed = runner.invoke(app, ["tables", "--json"])
    assert listed.exit_code == 0, listed.output
    tables = {t["name"]: t for t in json.loads(listed.output)}
    assert tables["dev.silver.events"]["rows"] == catalog.read("silver.events").height
    assert tables["dev.silver.events"]["version"] == catalog.version("silver.events")
    assert tables["dev.silver.events"]["path"].endswith("/dev/silver/events")

    history = runner.invoke(app, ["history", "silver.events"])
    assert history.exit_code == 0 and "MERGE" in history.output

    first = catalog.read("silver.events", version=1).height
    old = runner.invoke(app, ["read", "silver.events", "--version", "1", "--limit", "3"])
    assert old.exit_code == 0 and "shape: (3," in old.output
    assert first < catalog.read("silver.events").height


def test_bad_table_name_is_a_clear_error(settings: Settings) -> None:
    result = runner.invoke(app, ["read", "silver/../../etc"])
    assert result.exit_code == 2
    assert "invalid table name 'silver/../../etc'" in result.stderr


def test_generate_next_day_drops_one_more_day(settings: Settings) -> None:
    first = runner.invoke(app, ["generate", "--customers", "50", "--days",
                                str(MIN_TRAINABLE_DAYS), "--start", "2026-03-01"])
    assert first.exit_code == 0, first.output
    nxt = runner.invoke(app, ["generate", "--next-day"])
    assert nxt.exit_code == 0, nxt.output
    assert sorted(p.name for p in (Path(settings.landing) / "events").iterdir())[-1] == (
        date(2026, 3, 1) + timedelta(days=MIN_TRAINABLE_DAYS)).isoformat()
    again = runner.invoke(app, ["generate", "--if-empty"])
    assert "already has data" in again.output
