"""Point-in-time mutants that survived `make mutation` (issue 8), each killed at the value that
tells the correct code from the mutant."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse_ml.features import FeatureEngineeringClient, FeatureFunction, FeatureLookup
from lakehouse_ml.features.pit import is_sorted

from .timeline import at, utc_frame


@pytest.mark.parametrize(("a", "b"), [("a", "b"), (1, 2)], ids=["string_key", "integer_key"])
def test_the_as_of_join_sorts_a_table_stored_out_of_order(
    fe: FeatureEngineeringClient, a: str | int, b: str | int
) -> None:
    """A second write stores key a's day-5 row after key b's, so the stored rows are not in
    (key, time) order and must be sorted before the as-of join: grouped by key for a string key
    (`_asof_by_key`), on the folded (key, time) for an integer one (`_asof_folded`). Kills the
    sortedness test inverted and the sort dropped in either."""
    fe.create_table("gold.stock", "store", timeseries_column="ts",
                    df=utc_frame({"store": [a, b], "ts": [at(0), at(0)], "units": [1, 2]}))
    fe.write_table("gold.stock", utc_frame({"store": [a], "ts": [at(5)], "units": [5]}))
    stored = fe.read_table("gold.stock").select("store", "ts").rows()
    assert stored != sorted(stored)  # the premise: the table is read out of (key, time) order
    rows = utc_frame({"store": [a, a, b, b], "t": [at(6), at(1), at(6), at(1)]})
    lookup = FeatureLookup("gold.stock", "store", "t")
    out = fe.create_training_set(rows, [lookup], label=None).load_df()
    assert out["units"].to_list() == [5, 1, 2, 2]


@pytest.mark.parametrize(("rows", "expected"), [
    ([(1, 1), (1, 2), (2, 0)], True),  # a tie on the first column, broken by the second
    ([(1, 1), (1, 1), (2, 0)], True),  # equal rows are in order
    ([(1, 2), (1, 1)], False),  # the second column descends within a tie of the first
    ([(2, 0), (1, 5)], False),  # the first column descends, the second ascends
    ([(1, 0), (3, 0), (2, 0)], False),  # out of order only against the row just before
    ([(1, 0)], True),
])
def test_is_sorted_is_ascending_lexicographic_order(
    rows: list[tuple[int, int]], expected: bool
) -> None:
    """Kills every mutant of `is_sorted` that survived (its start value, `>`/`==`/`|`/`&`,
    `shift(1)`, `fill_null(True)`): a False answer for sorted rows only costs a sort, but a True
    one for unsorted rows gives the as-of join unsorted input."""
    frame = pl.DataFrame(rows, schema=["k", "t"], orient="row")
    assert is_sorted(frame, ["k", "t"]) is expected


def test_row_lookup_reads_negative_float32_features(fe: FeatureEngineeringClient) -> None:
    """Float32 features travel as their signed 32-bit pattern: a negative value (sign bit set)
    is a negative int. Kills `struct.pack("<i")` → `"<I"` in `_float32`, which refuses it."""
    values = pl.Series([-1.5, -0.0, 2.25], dtype=pl.Float32)
    fe.create_table("gold.temp", "cid", df=pl.DataFrame({"cid": [1, 2, 3], "delta": values}))
    fe.publish_table("gold.temp")
    lookup = fe.row_lookup([FeatureLookup("gold.temp", "cid")], pl.Schema({"cid": pl.Int64}),
                           ["delta"])
    got = lookup({"cid": [1, 2, 3]}, at(0))["delta"]
    assert [repr(value) for value in got] == ["-1.5", "-0.0", "2.25"]


def test_a_function_over_columns_chosen_by_type_gets_every_column(
    fe: FeatureEngineeringClient,
) -> None:
    """A function whose expression names no column (a dtype selector) may read any column, so
    the row lookup fetches all of them. Kills `names and all(...)` → `names or all(...)` in
    `_inputs`, which takes it for a function that reads nothing."""
    fe.create_table("gold.fees", "cid", df=pl.DataFrame(
        {"cid": [1, 2], "base": [1.5, 3.0], "extra": [0.25, 1.0]}))
    fe.publish_table("gold.fees")
    steps = [FeatureLookup("gold.fees", "cid"),
             FeatureFunction("total", pl.sum_horizontal(pl.col(pl.Float64)))]
    lookup = fe.row_lookup(steps, pl.Schema({"cid": pl.Int64}), ["total"])
    assert lookup({"cid": [1, 2]}, at(0))["total"] == [1.75, 4.0]
