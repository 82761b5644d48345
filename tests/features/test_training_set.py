"""Training sets: pinned versions, bit-for-bit rebuilds, feature functions, exclusions."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse_ml.features import (
    FeatureCollisionError,
    FeatureEngineeringClient,
    FeatureFunction,
    FeatureLookup,
    FeatureStoreError,
)

from .timeline import at, utc_frame


@pytest.fixture
def tables(fe):
    fe.create_table("gold.spend", "cid", timeseries_column="ts", df=utc_frame({
        "cid": [1, 1, 2], "ts": [at(0), at(2), at(1)], "spend": [1.0, 2.0, 4.0],
    }))
    fe.create_table("gold.profile", "cid", df=pl.DataFrame({"cid": [1, 2], "age": [30, 40]}))


LABELS = utc_frame({"cid": [1, 2, 1], "t": [at(1), at(3), at(3)], "churned": [0, 1, 1]})
LOOKUPS = [
    FeatureLookup("gold.spend", "cid", "t"),
    FeatureLookup("gold.profile", "cid"),
    FeatureFunction("spend_per_year", pl.col("spend") / pl.col("age")),
]


def test_pins_versions_and_reloads_identically_after_new_writes(fe, tables):
    training_set = fe.create_training_set(LABELS, LOOKUPS, label="churned")
    assert training_set.table_versions == {"dev.gold.spend": 1, "dev.gold.profile": 1}
    before = training_set.load_df()
    fe.write_table("gold.spend", utc_frame({"cid": [1, 2], "ts": [at(1), at(0)],
                                            "spend": [50.0, 60.0]}))
    fe.write_table("gold.profile", pl.DataFrame({"cid": [1], "age": [99]}))
    assert_frame_equal(training_set.load_df(), before)
    rebuilt = FeatureEngineeringClient(fe.catalog).create_training_set(
        LABELS, LOOKUPS, label="churned", versions=training_set.table_versions
    )
    assert_frame_equal(rebuilt.load_df(), before)
    current = fe.create_training_set(LABELS, LOOKUPS, label="churned").load_df()
    assert current["spend"].to_list() == [50.0, 4.0, 2.0]
    assert not current.equals(before)


def test_feature_functions_see_looked_up_and_request_columns(fe, tables):
    out = fe.create_training_set(LABELS, LOOKUPS, label="churned").load_df()
    assert out.columns == ["cid", "t", "churned", "spend", "age", "spend_per_year"]
    assert out["spend_per_year"].to_list() == [1.0 / 30, 4.0 / 40, 2.0 / 30]


def test_feature_functions_with_bindings_and_callables(fe, tables):
    ratio = FeatureFunction(
        "ratio", lambda df: df["numerator"] / df["denominator"],
        input_bindings={"numerator": "spend", "denominator": "age"}, output_name="r",
    )
    doubled = FeatureFunction("doubled", pl.col("r") * 2)
    out = fe.create_training_set(LABELS, [*LOOKUPS[:2], ratio, doubled], label=None).load_df()
    assert out["doubled"].to_list() == [2.0 / 30, 8.0 / 40, 4.0 / 30]


def test_exclude_columns_and_collisions(fe, tables):
    out = fe.create_training_set(
        LABELS, LOOKUPS, label="churned", exclude_columns=["cid", "age"]
    ).load_df()
    assert out.columns == ["t", "churned", "spend", "spend_per_year"]
    with pytest.raises(FeatureStoreError, match="exclude_columns"):
        fe.create_training_set(LABELS, LOOKUPS, label="churned", exclude_columns=["nope"])
    clash = FeatureFunction("age", pl.col("spend"))
    with pytest.raises(FeatureCollisionError, match="'age'"):
        fe.create_training_set(LABELS, [*LOOKUPS, clash], label="churned")


def test_feature_function_must_return_one_value_per_row(fe, tables):
    total = FeatureFunction("total", pl.col("spend").sum())
    training_set = fe.create_training_set(LABELS, [LOOKUPS[0], total], label=None)
    with pytest.raises(FeatureStoreError, match="returned 1 values for 3 rows"):
        training_set.load_df()
