"""A model declaration: what it learns from, how, and which gates it must pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lakehouse_ml.medallion.spec import TrainingSetSpec


@dataclass(frozen=True)
class ModelSpec:
    name: str
    """Registered as `<env>.<schema>.<name>` (e.g. `dev.churn.churn_clf`)."""
    schema: str
    description: str
    training_set: TrainingSetSpec
    """A training set a domain declares: scoring and serving find it by its name among the
    declared domains (`lakehouse_ml.domains`), never by a name stored in the artifact."""
    not_features: tuple[str, ...]
    """Training-set columns that are keys, times or audit columns, never model inputs."""
    categorical: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    holdout_fraction: float = 0.25
    """The latest label times, this share of them, are the validation holdout."""
    slices: tuple[str, ...] = ()
    min_roc_auc: float = 0.7
    champion_margin: float = 0.0
    """A candidate must beat the champion's ROC AUC on the same holdout by this much."""
    max_slice_gap: float = 0.2
    """Largest allowed difference between the best and worst slice ROC AUC."""
    min_slice_rows: int = 100
    owner: str = "team:ml"

    def registered_name(self, env: str) -> str:
        return f"{env}.{self.schema}.{self.name}"

    def feature_columns(self, columns: list[str]) -> list[str]:
        excluded = {*self.not_features, self.training_set.label}
        return [c for c in columns if c not in excluded]
