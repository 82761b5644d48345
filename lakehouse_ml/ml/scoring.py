"""Batch scoring from keys: features are looked up exactly as the model was trained."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.catalog import TableInfo
from lakehouse_ml.features.client import FeatureEngineeringClient
from lakehouse_ml.ml.packaging import PackagedModel, load_packaged
from lakehouse_ml.ml.train import inputs

THRESHOLD = 0.5


def features_for(client: FeatureEngineeringClient, model: PackagedModel, df: pl.DataFrame
                 ) -> pl.DataFrame:
    """`df` (keys and the time column) with the model's features, point in time."""
    steps = list(model.training_set.feature_lookups)
    return client.create_training_set(df, steps, label=None).load_df()


def score_batch(client: FeatureEngineeringClient, model_uri: str, df: pl.DataFrame
                ) -> pl.DataFrame:
    """`df` plus `probability` and `prediction` (probability >= 0.5), one row per input row."""
    model = load_packaged(model_uri)
    frame = features_for(client, model, df)
    probability = model.pipeline.predict_proba(inputs(frame, model.features))[:, 1]
    return df.with_columns(
        pl.Series("probability", probability, dtype=pl.Float64),
        pl.Series("prediction", probability >= THRESHOLD, dtype=pl.Boolean),
    )


UTC_TIME = pl.Datetime("us", "UTC")


def score_latest(
    client: FeatureEngineeringClient, model_uri: str, version: int, keys: pl.DataFrame,
    time_column: str, as_of: datetime, table: str,
) -> pl.DataFrame:
    """Score every key as of `as_of` and upsert into `table` (same key, time and version
    replace the earlier score, so a re-run leaves the same table)."""
    rows = keys.with_columns(pl.lit(as_of, dtype=UTC_TIME).alias(time_column))
    scored = score_batch(client, model_uri, rows).select(
        *keys.columns, pl.col(time_column).alias("as_of"), "probability", "prediction",
        pl.lit(version, dtype=pl.Int64).alias("model_version"),
        pl.lit(datetime.now(UTC), dtype=UTC_TIME).alias("scored_at"),
    )
    client.catalog.create_table(table, scored.schema, TableInfo(
        owner="team:ml", comment="Batch scores: probability and label per key, the time "
        "they were scored as of, and the model version.", tags={"layer": "ml"}))
    client.catalog.merge(table, scored, keys=[*keys.columns, "as_of", "model_version"])
    return scored
