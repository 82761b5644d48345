"""A side prepared once (`drift.prepare`: numeric columns sorted, categorical ones counted) gives
the same drift rows as its frame, whichever side it is and however the other side types a
column, and its sorted columns give `profile` the same rows as sorting them there: a refresh
sorts each window and each baseline slice once, for the profile and every comparison."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from lakehouse_ml.monitoring.drift import Prepared, drift_rows, prepare
from lakehouse_ml.monitoring.profile import profile
from lakehouse_ml.monitoring.windows import END, SLICE_KEY, SLICE_VALUE, START

COLUMNS = {"x": False, "n": False, "code": True, "mixed": False, "gone": False}


def side(seed: int, rows: int, shift: float, mixed: pl.Series) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, rows)
    x[rng.random(rows) < 0.05] = np.nan
    x[rng.random(rows) < 0.02] = np.inf
    frame = pl.DataFrame({
        "x": pl.Series(x).scatter(np.flatnonzero(rng.random(rows) < 0.05), None),
        "n": rng.integers(0, 4, rows),
        "code": rng.choice(["a", "b", "c"], rows),
        "mixed": mixed,
    })
    return frame if seed else frame.with_columns(gone=pl.lit(1.0))


CURRENT = side(0, 3000, 0.3, pl.Series(["7", "8", "9"] * 1000))  # text here, numbers there
REFERENCE = side(1, 2000, 0.0, pl.Series(np.arange(2000) % 3 + 7))


def test_prepared_sides_give_the_rows_of_their_frames() -> None:
    want = drift_rows(CURRENT, REFERENCE, COLUMNS)
    current, reference = prepare(CURRENT, COLUMNS), prepare(REFERENCE, COLUMNS)
    assert isinstance(current, Prepared)
    for pair in ((current, reference), (current, REFERENCE), (CURRENT, reference)):
        assert drift_rows(*pair, COLUMNS).equals(want)
    assert want.filter(pl.col("column_name") == "mixed")["chi_squared_test"].item() is not None
    assert reference.kinds["mixed"] == "numeric"  # compared as text: read from the frame


def test_profile_of_presorted_columns_equals_its_own_sorting() -> None:
    key = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), None, None)
    frame = CURRENT.with_columns(pl.lit(key[0]).alias(START), pl.lit(key[1]).alias(END),
                                 pl.lit(None, pl.String).alias(SLICE_KEY),
                                 pl.lit(None, pl.String).alias(SLICE_VALUE))
    kinds = {"x": "numeric", "n": "numeric", "code": "string"}
    prepared = prepare(CURRENT, COLUMNS)
    asked = []

    def presorted(group: tuple, column: str) -> np.ndarray | None:
        asked.append((group, column))
        return prepared.sorted_column(column)

    got = profile(frame.lazy(), kinds, {"code": True}, presorted)
    assert got.equals(profile(frame.lazy(), kinds, {"code": True}))
    assert sorted(asked) == [(key, "n"), (key, "x")]
