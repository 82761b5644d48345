"""A model declaration: what it learns from, how, and which gates it must pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
    holdout_fraction: float | None = None
    """The latest label times, this share of them (0 < share < 1), are the validation holdout.
    Give this or `holdout_start`, not both; neither means a share of 0.25."""
    holdout_start: datetime | None = None
    """A time-zone aware instant: label times before it are trained on, those at or after it
    are the holdout (e.g. train on months 1-9, validate on 10-12)."""
    slices: tuple[str, ...] = ()
    min_roc_auc: float = 0.7
    champion_margin: float = 0.0
    """A candidate must beat the champion's ROC AUC on the same holdout by this much."""
    max_slice_gap: float = 0.2
    """Largest allowed difference between the best and worst slice ROC AUC."""
    min_slice_rows: int = 100
    owner: str = "team:ml"

    def __post_init__(self) -> None:
        where = f"model {self.name!r}"
        if self.holdout_fraction is not None and self.holdout_start is not None:
            raise ValueError(f"{where}: give holdout_fraction or holdout_start, not both")
        if self.holdout_fraction is not None and not 0 < self.holdout_fraction < 1:
            raise ValueError(f"{where}: holdout_fraction must be between 0 and 1 (exclusive), "
                             f"got {self.holdout_fraction}")
        if self.holdout_start is not None and self.holdout_start.tzinfo is None:
            raise ValueError(f"{where}: holdout_start {self.holdout_start} has no time zone; "
                             "give an aware datetime (e.g. tzinfo=UTC)")

    @property
    def holdout(self) -> float | datetime:
        """What `time_split` holds out: the start instant, or else the share (default 0.25)."""
        if self.holdout_start is not None:
            return self.holdout_start
        return 0.25 if self.holdout_fraction is None else self.holdout_fraction

    def registered_name(self, env: str) -> str:
        return f"{env}.{self.schema}.{self.name}"

    def feature_columns(self, columns: list[str]) -> list[str]:
        excluded = {*self.not_features, self.training_set.label}
        return [c for c in columns if c not in excluded]
