"""A domain declared only for the batch catch-up tests (`tests/test_batch_catch_up.py` puts this
folder on the search path of `lakehouse_ml.domains`): a feature table of daily activity
snapshots whose rows the test writes itself, a training set on it and a model that batch-scores
the members of `silver.members` active in the 30 days before (its population)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl

from lakehouse_ml.features import FeatureLookup
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.medallion.spec import Domain, Feature, FeatureTableSpec, TrainingSetSpec
from lakehouse_ml.ml.spec import BatchScoring, ModelSpec


def _written_by_the_test(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]
                         ) -> pl.LazyFrame:
    raise NotImplementedError("the test writes gold.activity itself")


TRAINING_SET = TrainingSetSpec(
    name="shop.training_set", description="Outcomes with activity.", labels="silver.outcomes",
    label="churned", time_column="label_ts",
    feature_lookups=(FeatureLookup("gold.activity", "cid", "label_ts",
                                   rename_outputs={AS_OF: f"activity_{AS_OF}"}),),
    population=pl.col("events_30d") > 0,
)

DOMAIN = Domain(
    name="shop", description="Members and their activity.", start_date=date(2026, 3, 1),
    sources=(),
    feature_tables=(FeatureTableSpec(
        name="activity", description="Daily activity snapshots.", entity_keys=("cid",),
        timestamp_key="ts", inputs=(), build=_written_by_the_test,
        features=(Feature("events_30d", "events in 30 days", ()),
                  Feature("tenure_days", "days since joining", ())),
    ),),
    training_set=TRAINING_SET,
)

MODELS = (ModelSpec(
    name="shop_clf", schema="shop", description="Churn from activity.",
    training_set=TRAINING_SET, not_features=("cid",), params={"max_iter": 5},
    holdout_fraction=0.25, min_slice_rows=1,
    batch_scoring=BatchScoring(keys_table="silver.members", key="cid"),
),)
