"""Rows written to a feature table are laid out in key order (`prepare_rows`), whether they
come in that order already (then they are not copied by a sort) or not."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse_ml.features.errors import DuplicateKeyError
from lakehouse_ml.features.writes import prepare_rows

KEYS = ["customer_id", "ts"]


def _rows(pairs: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame({
        "customer_id": [c for c, _ in pairs],
        "ts": [datetime(2026, 1, d, tzinfo=UTC) for _, d in pairs],
        "value": [float(i) for i in range(len(pairs))],
    })


@pytest.mark.parametrize("pairs", [
    [(2, 1), (1, 2), (1, 1)],  # first key out of order
    [(1, 2), (1, 1), (2, 1)],  # first key in order, a tie broken the wrong way by the second
    [(1, 1), (2, 3), (2, 2)],  # out of order only at the end
])
def test_rows_out_of_order_are_sorted(pairs: list[tuple[int, int]]) -> None:
    rows = prepare_rows(_rows(pairs), KEYS, "ts", "t")
    assert_frame_equal(rows, _rows(pairs).sort(KEYS), check_exact=True)


def test_rows_in_order_are_kept_as_they_are() -> None:
    given = _rows([(1, 1), (1, 3), (2, 2), (7, 1)])
    assert_frame_equal(prepare_rows(given, KEYS, "ts", "t"), given, check_exact=True)


@pytest.mark.parametrize("pairs", [[(1, 1), (1, 1), (2, 1)], [(1, 1), (2, 1), (1, 1)]])
def test_a_repeated_key_is_refused_in_order_or_not(pairs: list[tuple[int, int]]) -> None:
    with pytest.raises(DuplicateKeyError, match="repeat a primary key"):
        prepare_rows(_rows(pairs), KEYS, "ts", "t")
