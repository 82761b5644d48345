"""The drift sensor's evidence hides slice values by `monitoring.pii`'s rule, the one the drift
checks and the drift report use: a slicing expression naming a pii column, in any case or
inside an expression, shows no value (real Delta metric tables, hand-made rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.monitoring.pii import HIDDEN
from lakehouse_ml.monitoring.schema import DRIFT_METRICS, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import (
    ChampionTrainingSet,
    InferenceLog,
    Monitor,
    RetrainingPolicy,
)
from lakehouse_ml.monitoring.triggers import states

START = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = "ann@example.com"
MONITOR = Monitor(
    MODEL.predictions_table, "inference_log", timestamp_col="as_of",
    baseline=ChampionTrainingSet(MODEL.name), exclude=("customer_id", "scored_at"),
    inference_log=InferenceLog(model_id_col="model_version", prediction_col="prediction",
                               probability_col="probability", model=MODEL.name))
SLICES = {"plan_tier": "pro", "lower(EMAIL)": SECRET, '"Email"': SECRET,
          "email_domain": "example.com"}


def _drift(catalog: Catalog) -> None:
    window = {"start": START, "end": START + timedelta(days=1)}
    rows = [{"column_name": TABLE_LEVEL, "count_delta": 1.0},
            {"column_name": "sessions_30d", "js_distance": 0.5, "data_type": "Float64"}]
    rows += [{"column_name": "sessions_30d", "js_distance": 0.5, "data_type": "Float64",
              "slice_key": key, "slice_value": value} for key, value in SLICES.items()]
    catalog.create_table(MONITOR.drift_metrics_table, DRIFT_METRICS, TableInfo(owner="team:ml"))
    catalog.append(MONITOR.drift_metrics_table, pl.DataFrame(
        [{"window": window, "granularity": "1 day", "drift_type": "BASELINE", **row}
         for row in rows], schema=DRIFT_METRICS))


def _slices(catalog: Catalog) -> list[str]:
    timeline = states(catalog, RetrainingPolicy(MODEL.name), MODEL, [MONITOR])
    assert timeline is not None
    (drifting,) = timeline[-1].drifting
    return sorted(drifting.slices)


def test_slices_naming_a_pii_column_in_any_case_or_expression_are_hidden(
        catalog: Catalog) -> None:
    catalog.create_table(MONITOR.table, pl.Schema({"email": pl.String, "plan_tier": pl.String}),
                         TableInfo(owner="team:ml", column_tags={"email": ["pii"]}))
    _drift(catalog)

    assert _slices(catalog) == sorted([
        "plan_tier=pro", f"lower(EMAIL)={HIDDEN}", f'"Email"={HIDDEN}',
        f"email_domain={HIDDEN}"])


def test_every_slice_is_hidden_when_the_monitored_table_is_gone(catalog: Catalog) -> None:
    """Its tags are unknown (fail closed)."""
    _drift(catalog)

    assert _slices(catalog) == sorted(f"{key}={HIDDEN}" for key in SLICES)
