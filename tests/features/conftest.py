"""Fixtures: a feature store on a fresh lakehouse root (the Redis server: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    return Catalog(str(tmp_path / "lakehouse"), "dev")


@pytest.fixture
def fe(catalog, monkeypatch) -> Iterator[FeatureEngineeringClient]:
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = FeatureEngineeringClient(catalog)
    yield client
    client.close()
