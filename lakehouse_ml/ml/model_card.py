"""The model card: what the model is for, what it learned from, how well, where not to use it."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from lakehouse_ml.markdown_table import markdown_table
from lakehouse_ml.ml.evaluate import Evaluation
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.ml.train import TrainedModel


def model_card(
    spec: ModelSpec, registered_name: str, trained: TrainedModel, evaluation: Evaluation,
    versions: Mapping[str, int],
) -> str:
    time = spec.training_set.time_column
    label = spec.training_set.label
    span = (trained.train[time].min(), trained.holdout[time].max())
    overall = pl.DataFrame({"metric": list(evaluation.metrics),
                            "holdout": list(evaluation.metrics.values())})
    data = pl.DataFrame({"table": list(versions), "delta_version": list(versions.values())})
    return f"""# Model card: {registered_name}

## Intended use
{spec.description}
Scores customers who are active at the scoring time; meant to rank them for retention outreach,
reviewed by people, not to take automatic action against a customer.

## Data
Training set `{spec.training_set.name}` ({spec.training_set.description})
Label `{label}`; label times from {span[0]} to {span[1]}; time-based split: train on
{trained.train.height} rows before {trained.holdout[time].min()}, validate on
{trained.holdout.height} later rows (positive rate {trained.holdout[label].mean():.3f}).
Features ({len(trained.features)}): {", ".join(trained.features)}.

Exact Delta versions read:

{markdown_table(data)}

## Metrics (holdout)
{markdown_table(overall, float_precision=3)}

## Metrics per slice (holdout, ROC AUC)
{markdown_table(evaluation.slices, float_precision=3)}

## Limitations
- Trained on the label times above; behaviour shifts (seasonality, pricing, a new market) make
  it stale: watch the drift monitors and retrain.
- Slices smaller than {spec.min_slice_rows} holdout rows are not evaluated separately.
- Features are daily snapshots stamped 00:00 in their feature table's time zone (UTC unless
  it declares another): activity of the scoring day is not seen.
- The score is not calibrated beyond what gradient boosting gives (see calibration_error).
"""
