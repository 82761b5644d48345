"""Batch scores log the model's input features beside each score (the inference log whose drift
against the training set the predictions monitor measures)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import polars as pl
from polars.testing import assert_frame_equal

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.domains.churn.training import LABEL_TIME
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.ml.packaging import load_packaged
from lakehouse_ml.ml.registry import model_uri, use_tracking
from lakehouse_ml.ml.scoring import (
    SCORE_COLUMNS,
    UTC_TIME,
    features_for,
    score_latest,
    write_scores,
)

TABLE = "churn.predictions_before_features"


def test_written_features_are_the_features_the_model_scored_with_and_old_tables_evolve(
    lakehouse_copy: Settings, customers: list[int],
) -> None:
    catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env)
    use_tracking(lakehouse_copy.mlflow_tracking_uri)
    client = FeatureEngineeringClient(catalog)
    uri = model_uri(MODEL.registered_name(lakehouse_copy.env), 1)
    model = load_packaged(uri)
    today = datetime.now(UTC).date() - timedelta(days=2)  # within the data (ends yesterday)
    as_of = datetime.combine(today, time(), tzinfo=UTC)
    older = as_of - timedelta(days=1)
    old_rows = pl.DataFrame({"customer_id": customers[:3]}).with_columns(
        pl.lit(older, dtype=UTC_TIME).alias("as_of"), pl.lit(0.5).alias("probability"),
        pl.lit(True).alias("prediction"), pl.lit(1, dtype=pl.Int64).alias("model_version"),
        pl.lit(older, dtype=UTC_TIME).alias("scored_at"))
    write_scores(catalog, TABLE, old_rows, older)  # a table from before features were logged

    keys = pl.DataFrame({"customer_id": customers[:30]})
    scored = score_latest(client, uri, 1, keys, LABEL_TIME, as_of, TABLE)

    assert scored.columns == ["customer_id", *SCORE_COLUMNS, *model.features]
    looked_up = features_for(client, model, keys.with_columns(
        pl.lit(as_of, dtype=UTC_TIME).alias(LABEL_TIME)))
    # the keys of the training set's population are scored (TrainingSetSpec.population)
    looked_up = looked_up.filter(model.training_set.in_population(looked_up))
    assert scored["customer_id"].to_list() == looked_up["customer_id"].to_list()
    expected = looked_up.select(model.features)
    assert_frame_equal(scored.select(model.features), expected)
    assert expected.select(pl.all().n_unique()).row(0) != (1,) * len(model.features)
    written = catalog.read(TABLE)
    latest = written.filter(pl.col("as_of") == as_of).sort("customer_id")
    assert_frame_equal(latest.select(model.features),
                       scored.sort("customer_id").select(model.features))
    old = written.filter(pl.col("as_of") == older)
    assert old.height == 3, "the rows written before the features were logged stay"
    assert old.select(model.features).null_count().row(0) == (3,) * len(model.features)
