"""Silver, conservation and gold code that `make mutation` (issue 8) mutated, each asserted at
the value that tells the correct code from the mutant (real Delta tables, the boundary domain of
tests/boundary_domain.py)."""

from __future__ import annotations

import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.medallion import silver
from lakehouse_ml.medallion.reconcile import reconcile
from lakehouse_ml.medallion.silver import refine, steps
from tests.boundary_domain import BATCH_DAYS, BATCH_SIZES, READINGS, land_batches

DAYS, SIZES = BATCH_DAYS, BATCH_SIZES


@pytest.fixture
def landed(settings: Settings, catalog: Catalog) -> Catalog:
    return land_batches(settings.landing, catalog)


def test_batches_are_refined_in_steps_of_at_most_rows_per_step(
    landed: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches in date order, a new step only when the next batch would take the step over the
    bound (a step of exactly the bound is full); a batch bigger than the bound is a step of its
    own; a batch nobody landed counts 0 rows."""
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 3)
    assert steps(landed, READINGS, list(reversed(DAYS))) == [DAYS[:2], DAYS[2:3], DAYS[3:]]
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 4)
    assert steps(landed, READINGS, DAYS) == [DAYS[:2], DAYS[2:]]
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 2)
    assert steps(landed, READINGS, DAYS) == [DAYS[:1], DAYS[1:2], DAYS[2:3], DAYS[3:]]
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 1)
    assert steps(landed, READINGS, [*DAYS[3:], "2026-03-01"]) == [[DAYS[3], "2026-03-01"]]
    assert steps(landed, READINGS, []) == []


def test_refining_and_reconciling_in_steps_counts_every_step(
    landed: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a bound of 3 rows the four batches are refined in three steps: the report sums
    them all, and conservation reports each batch balanced."""
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 3)
    report = refine(landed, READINGS, DAYS)
    assert (report.read, report.valid, report.inserted, report.updated) == (7, 7, 7, 0)
    assert landed.read(READINGS.silver_table).height == 7
    counts = reconcile(landed, READINGS, DAYS).select("batch_id", "landed", "in_silver",
                                                      "balanced").rows()
    assert counts == [(d, n, n, True) for d, n in zip(DAYS, SIZES, strict=True)]
