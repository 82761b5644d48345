"""Point-in-time mutants that survived `make mutation` (issue 8), each killed at the value that
tells the correct code from the mutant."""

from __future__ import annotations

from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup

from .timeline import at, utc_frame


def test_the_as_of_join_by_key_sorts_a_table_stored_out_of_order(
    fe: FeatureEngineeringClient,
) -> None:
    """A string key takes the grouped as-of join; a second write stores store "a"'s day-5 row
    after store "b"'s, so the stored rows are not in (key, time) order and must be sorted.
    Kills `if not is_sorted(...)` → `if is_sorted(...)` and the sort dropped in `_asof_by_key`."""
    fe.create_table("gold.stock", "store", timeseries_column="ts",
                    df=utc_frame({"store": ["a", "b"], "ts": [at(0), at(0)], "units": [1, 2]}))
    fe.write_table("gold.stock", utc_frame({"store": ["a"], "ts": [at(5)], "units": [5]}))
    stored = fe.read_table("gold.stock").select("store", "ts").rows()
    assert stored != sorted(stored)  # the premise: the table is read out of (key, time) order
    rows = utc_frame({"store": ["a", "a", "b", "b"], "t": [at(6), at(1), at(6), at(1)]})
    lookup = FeatureLookup("gold.stock", "store", "t")
    out = fe.create_training_set(rows, [lookup], label=None).load_df()
    assert out["units"].to_list() == [5, 1, 2, 2]
