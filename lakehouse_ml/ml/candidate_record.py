"""What training hands to validation and deployment: the registered candidate version.

Its own module, with nothing heavy imported at run time, so that the Dagster definitions can
name it as an op's input and output type without importing MLflow or scikit-learn when they
load (those are imported by the steps that train, validate and deploy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse_ml.ml.evaluate import Evaluation
    from lakehouse_ml.ml.train import TrainedModel


@dataclass(frozen=True)
class Candidate:
    """A version of `model` registered by MLflow run `run_id`, trained from the tables at
    `data_versions` (full table name → Delta version), with its evaluation on the holdout."""

    model: str
    version: int
    run_id: str
    trained: TrainedModel
    evaluation: Evaluation
    data_versions: dict[str, int]
