"""Batch scoring from keys: features are looked up exactly as the model was trained."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import numpy as np
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.features.client import FeatureEngineeringClient
from lakehouse_ml.lake.predicates import between
from lakehouse_ml.ml.packaging import PackagedModel, load_packaged
from lakehouse_ml.ml.score_schema import SCORE_COLUMNS, THRESHOLD
from lakehouse_ml.ml.train import inputs


def features_for(client: FeatureEngineeringClient, model: PackagedModel, df: pl.DataFrame
                 ) -> pl.DataFrame:
    """`df` (keys and the time column) with the model's features, point in time."""
    steps = list(model.training_set.feature_lookups)
    return client.create_training_set(df, steps, label=None).load_df()


def score_batch(client: FeatureEngineeringClient, model_uri: str, df: pl.DataFrame, *,
                with_features: bool = False) -> pl.DataFrame:
    """`df` plus `probability` and `prediction` (probability >= 0.5), one row per input row;
    `with_features`: then also the model's input features (named as in its training set),
    the values it scored. ValueError when an input feature would replace a column of `df`
    or the scores."""
    model = load_packaged(model_uri)
    return _scored(model, model_uri, df, features_for(client, model, df), with_features)


def _scored(model: PackagedModel, model_uri: str, df: pl.DataFrame, frame: pl.DataFrame,
            with_features: bool) -> pl.DataFrame:
    """`score_batch` of the rows `df` whose looked-up features are `frame` (same order)."""
    probability = (model.pipeline.predict_proba(inputs(frame, model.features))[:, 1]
                   if frame.height else np.empty(0))
    scored = df.with_columns(
        pl.Series("probability", probability, dtype=pl.Float64),
        pl.Series("prediction", probability >= THRESHOLD, dtype=pl.Boolean),
    )
    if not with_features:
        return scored
    clash = sorted(set(model.features) & {*SCORE_COLUMNS, *scored.columns})
    if clash:
        raise ValueError(f"{model_uri}: input feature(s) {', '.join(clash)} would replace "
                         "a column of the scored rows")
    return scored.hstack(frame.select(model.features).get_columns())


UTC_TIME = pl.Datetime("us", "UTC")


def _scoring_day(column: str, as_of: datetime) -> str:
    """Predicate text: `column` falls on `as_of`'s UTC day (both ends of the day included)."""
    start = datetime.combine(as_of.astimezone(UTC).date(), time(), tzinfo=UTC)
    end = start + timedelta(days=1) - timedelta(microseconds=1)
    return between(column, start.isoformat(), end.isoformat())


def score_latest(
    client: FeatureEngineeringClient, model_uri: str, version: int, keys: pl.DataFrame,
    time_column: str, as_of: datetime, table: str,
) -> pl.DataFrame:
    """Score every key of the model's population as of `as_of` (time-zone aware) and write
    the scores to `table` for `as_of`'s UTC day: they replace that day's rows (whatever model
    version wrote them), and other days' rows stay, so re-scoring a day never leaves two
    copies. The population is its training set's (`TrainingSetSpec.population`, evaluated on
    each key's features as of `as_of`): a key outside it is not scored, as a row outside it
    was not trained on. Returns the rows written: the key columns, `as_of`, `probability`,
    `prediction`, `model_version`, `scored_at` (UTC), then the model's input features as it
    saw them (named as in its training set; the inference log whose drift against the
    training set monitors measure). A table written before the features were logged gains
    their columns (older rows NULL)."""
    return score_days(client, model_uri, version, keys, time_column, [as_of], table)[0]


def score_days(
    client: FeatureEngineeringClient, model_uri: str, version: int, keys: pl.DataFrame,
    time_column: str, as_of: Sequence[datetime], table: str,
) -> list[pl.DataFrame]:
    """`score_latest` at each time of `as_of` (each on another UTC day), in order, the model
    loaded once: one list item per time. Each day is written (its own Delta commit) before the
    next is scored, so a run that stops midway keeps the days it wrote."""
    model = load_packaged(model_uri)
    return [_score_day(client, model, model_uri, version, keys, time_column, at, table)
            for at in as_of]


def _score_day(
    client: FeatureEngineeringClient, model: PackagedModel, model_uri: str, version: int,
    keys: pl.DataFrame, time_column: str, as_of: datetime, table: str,
) -> pl.DataFrame:
    """`score_latest` with the model loaded."""
    rows = keys.with_columns(pl.lit(as_of, dtype=UTC_TIME).alias(time_column))
    frame = features_for(client, model, rows)
    keep = model.training_set.in_population(frame)
    rows, frame = rows.filter(keep), frame.filter(keep)
    scored = _scored(model, model_uri, rows, frame, with_features=True)
    features = [c for c in scored.columns if c not in (*rows.columns, *SCORE_COLUMNS)]
    scored = scored.select(
        *keys.columns, pl.col(time_column).alias("as_of"), "probability", "prediction",
        pl.lit(version, dtype=pl.Int64).alias("model_version"),
        pl.lit(datetime.now(UTC), dtype=UTC_TIME).alias("scored_at"), *features,
    )
    write_scores(client.catalog, table, scored, as_of)
    return scored


def write_scores(catalog: Catalog, table: str, scored: pl.DataFrame, as_of: datetime) -> int:
    """Replace `table`'s scores of `as_of`'s UTC day by `scored` (whose `as_of` values all fall
    on that day), creating the table if needed; other days' rows stay. Returns the new Delta
    version."""
    catalog.create_table(table, scored.schema, TableInfo(
        owner="team:ml", comment="Batch scores, one scoring per UTC day of `as_of`: "
        "probability and label per key, the time they were scored as of, and the model "
        "version.", tags={"layer": "ml"}))
    return catalog.overwrite(table, scored, predicate=_scoring_day("as_of", as_of), evolve=True)
