"""Why a model is served without the fast path is said where the user looks: a warning naming
the model, its version and the reason, and `fast_path_reason` beside `fast_path` on /health
(stranger finding 12). A pipeline without categorical columns (the walkthrough's shape) is on
the fast path."""

from __future__ import annotations

import dataclasses
import logging

import mlflow
import numpy as np
import polars as pl
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.packaging import load_packaged, log_packaged
from lakehouse_ml.ml.registry import CHAMPION, model_uri, use_experiment, use_tracking
from lakehouse_ml.ml.train import build_pipeline, inputs
from lakehouse_ml.serving.predictor import compile_predictor
from tests.serving.conftest import config, running

NUMBERS = pl.Schema({"visits": pl.Int64, "spend": pl.Float64, "ratio": pl.Float32})
THREE_STEPS = ("the pipeline is not a ColumnTransformer then a classifier (its steps: "
               "ColumnTransformer, FunctionTransformer, HistGradientBoostingClassifier)")


def _numbers(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({"visits": rng.integers(0, 40, n), "spend": rng.normal(50, 30, n),
                         "ratio": rng.random(n)}, schema=NUMBERS).with_columns(
        pl.when(pl.int_range(n) % 7 == 0).then(None).otherwise("spend").alias("spend"))


def _with_a_middle_step(pipeline: Pipeline, example: object) -> Pipeline:
    """The same model with an identity step between encoder and classifier (same
    probabilities): a shape the fast path does not handle."""
    encode, classifier = pipeline.steps[0][1], pipeline.steps[-1][1]
    middle = FunctionTransformer().fit(encode.transform(example))
    return Pipeline([("encode", encode), ("identity", middle), ("classifier", classifier)])


def test_a_model_without_categorical_columns_is_on_the_fast_path() -> None:
    train = _numbers(2000, 1)
    label = (train["visits"] > 20).to_numpy()
    spec = dataclasses.replace(MODEL, categorical=(), params={"max_iter": 20})
    pipeline = build_pipeline(spec, list(NUMBERS)).fit(inputs(train, list(NUMBERS)), label)
    rows = _numbers(500, 2)

    predict, slow_reason = compile_predictor(pipeline, NUMBERS, inputs(rows.head(3),
                                                                       list(NUMBERS)))

    assert slow_reason is None
    assert np.array_equal(predict(rows.to_dict(as_series=False)),
                          pipeline.predict_proba(inputs(rows, list(NUMBERS)))[:, 1])
    example = inputs(rows.head(3), list(NUMBERS))
    assert compile_predictor(pipeline, NUMBERS, None)[1] == (
        "no input example was logged with the model (the fast path must reproduce the "
        "pipeline on it)")
    assert compile_predictor(_with_a_middle_step(pipeline, example), NUMBERS,
                             example)[1] == THREE_STEPS


def test_health_and_the_log_say_why_a_version_is_not_on_the_fast_path(
    registry_copy: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = use_tracking(registry_copy.mlflow_tracking_uri)
    name = MODEL.registered_name(registry_copy.env)
    packaged = load_packaged(model_uri(name, 1))
    frame = Catalog(registry_copy.root, registry_copy.env).read(MODEL.training_set.name)
    example = inputs(frame.head(100), packaged.features)
    use_experiment(client, "/dev/churn/fast_path")
    with mlflow.start_run():
        version = log_packaged(client, _with_a_middle_step(packaged.pipeline, example), name,
                               MODEL.training_set, packaged.features, example, [])
    client.set_registered_model_alias(name, CHAMPION, str(version))
    caplog.set_level(logging.WARNING, logger="lakehouse_ml.serving.model")

    with running(config(registry_copy)) as server:
        health = server.get("/health").json()["endpoints"]["churn_clf"]

    assert (health["champion"], health["challenger"]) == (version, 2)
    assert health["fast_path"] == {str(version): False, "2": True}
    assert health["fast_path_reason"] == {str(version): THREE_STEPS, "2": None}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and r.name == "lakehouse_ml.serving.model"]
    assert warnings == [f"{name} version {version} is served without the fast path: "
                        f"{THREE_STEPS}"]
