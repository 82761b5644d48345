"""The `unique_keys` check (`silver.duplicate_keys`) reads silver in the same bounded groups of
batches as `refine`: at 50,000 customers x 180 days, looking up all 28M written keys at once
was the backfill's memory peak (5.4 GiB), while each step's keys take under 1 GiB."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.medallion import silver
from lakehouse_ml.medallion.silver import duplicate_keys, refine
from tests.boundary_domain import BATCH_DAYS, READINGS, land_batches

DAYS = BATCH_DAYS


@pytest.fixture
def refined(settings: Settings, catalog: Catalog) -> Catalog:
    refine(land_batches(settings.landing, catalog), READINGS, DAYS)
    return catalog


def test_duplicate_keys_looks_keys_up_one_step_at_a_time(
    refined: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a bound of 3 rows the batches form three steps ([1, 2], [3], [4]): no lookup holds
    more than one step's keys, and a key written in the first and the last step (a copy
    appended under the last batch) is found once, with its two rows."""
    first = refined.read(READINGS.silver_table).filter(pl.col("reading_id") == "2026-02-01-0")
    refined.append(READINGS.silver_table, first.with_columns(pl.lit(DAYS[3]).alias("_batch_id")))
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 3)
    looked_up: list[int] = []
    among = silver.among

    def counting(rows: pl.DataFrame, keys: list[str]) -> list[pl.Expr]:
        looked_up.append(rows.height)
        return among(rows, keys)

    monkeypatch.setattr(silver, "among", counting)
    found = duplicate_keys(refined, READINGS, DAYS)
    assert found.rows() == [("2026-02-01-0", 2)]
    assert looked_up == [3, 3, 2]


def test_duplicate_keys_of_no_batch_is_empty(refined: Catalog) -> None:
    assert duplicate_keys(refined, READINGS, []).columns == ["reading_id", "rows"]
    assert duplicate_keys(refined, READINGS, []).is_empty()
    assert duplicate_keys(refined, READINGS, DAYS).is_empty()
