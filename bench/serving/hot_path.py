"""Where a one-row request's time goes, in-process: CPU time per call of each step.

Thread CPU time, not wall time: on a shared machine it does not count the waits for a core, so
it says what a step costs rather than how busy the machine was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl
from threadpoolctl import threadpool_limits

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.lookup import time_columns
from lakehouse_ml.features.timestamps import STORED
from lakehouse_ml.ml.registry import CHAMPION, alias_version, use_tracking
from lakehouse_ml.serving.model import load_model
from lakehouse_ml.serving.payload import parse
from lakehouse_ml.serving.predictor import pipeline_predictor
from lakehouse_ml.serving.request import RequestSchema


def cpu_ms(step: Callable[[], object], repeats: int) -> float:
    step()
    started = time.thread_time()
    for _ in range(repeats):
        step()
    return (time.thread_time() - started) / repeats * 1000


def hot_path(settings: Settings, customer_id: int, repeats: int = 200) -> dict[str, float]:
    features = FeatureEngineeringClient(Catalog(settings.root, settings.env))
    name = MODEL.registered_name(settings.env)
    version = alias_version(use_tracking(settings.mlflow_tracking_uri), name, CHAMPION)
    model = load_model(features, name, version)
    body = f'{{"dataframe_records": [{{"customer_id": {customer_id}}}]}}'.encode()
    schema = RequestSchema(model.keys, model.features)
    keys, now = {"customer_id": [customer_id]}, datetime.now(UTC)
    steps = list(model.training_set.feature_lookups)
    rows = pl.DataFrame(keys).with_columns(pl.lit(now, dtype=STORED).alias(t)
                                           for t in time_columns(steps))
    looked_up = model.lookup(keys, now)[0]
    reference = pipeline_predictor(model.packaged.pipeline, model.features)
    with threadpool_limits(limits=1):  # as in the server's scoring thread
        return {
            "parse and check the payload": cpu_ms(lambda: schema.parse(parse(body)), repeats),
            "online lookup with `unmatched_lookups`, row by row (serving)": cpu_ms(
                lambda: model.lookup(keys, now), repeats),
            "online lookup on frames (`lookup_online`, 4 tables + 1 function)":
                cpu_ms(lambda: features.lookup_online(rows, steps), repeats),
            "predict: pipeline on pandas, as batch scoring": cpu_ms(
                lambda: reference(looked_up), repeats),
            "predict: serving's fast path (same output)": cpu_ms(
                lambda: model.predict(looked_up), repeats),
        }
