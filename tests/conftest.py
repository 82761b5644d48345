"""Shared fixtures: a throw-away lakehouse (root + landing) and generated demo data. `make test`
runs the files on every core with `--dist loadfile`: a file's tests share one worker (and its
module fixtures, in order)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
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
from lakehouse_ml.domains.churn.generator import GenerationReport, generate
from lakehouse_ml.medallion.spec import Domain
from tests.durations import RECORDED, slowest_files_first

START = date(2026, 3, 1)
DAYS = 14
def day_keys(start: date = START, days: int = DAYS) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range(days)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest files first (see `tests/durations.py`)."""
    slowest_files_first(items, json.loads(RECORDED.read_text()) if RECORDED.exists() else {})


@pytest.fixture(autouse=True)
def own_mlflow_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlflow.set_tracking_uri` also writes MLFLOW_TRACKING_URI into the environment, where it
    would outlive its test and point a later test of the same worker at that test's store:
    each test starts without it (and monkeypatch removes what the test leaves)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A lakehouse under tmp_path, also exported to the environment (CLI, client defaults)."""
    root, landing = tmp_path / "lakehouse", tmp_path / "landing"
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))
    monkeypatch.setenv("LAKEHOUSE_LANDING", str(landing))
    monkeypatch.setenv("LAKEHOUSE_ENV", "dev")
    return Settings.from_env()


@pytest.fixture
def catalog(settings: Settings) -> Catalog:
    return Catalog(settings.root, settings.env)


@pytest.fixture(scope="session")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    """Small dirty demo data, generated once per session (copy it before changing it)."""
    landing = tmp_path_factory.mktemp("landing") / "landing"
    report = generate(landing, customers=120, days=DAYS, start=START, seed=11,
                      dirty_fraction=0.08, progress=False)
    return landing, report


@pytest.fixture
def landing(settings: Settings, landed: tuple[Path, GenerationReport]) -> GenerationReport:
    shutil.copytree(landed[0], settings.landing)
    return landed[1]


def materialize(
    settings: Settings, days: Sequence[str], *, domain: Domain = DOMAIN,
    instance: dg.DagsterInstance | None = None, raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Dagster's own `materialize` over `days` as one run (a single-run backfill range)."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}
    return dg.materialize(
        [*medallion_assets(domain), *feature_assets(domain, daily_partitions(domain))],
        resources={"lakehouse": LakehouseResource.from_settings(settings)},
        instance=instance, tags=tags, raise_on_error=raise_on_error,
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance
