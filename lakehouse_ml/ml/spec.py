"""A model declaration: what it learns from, how, and which gates it must pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.medallion.spec import TrainingSetSpec, tuple_field, typed_field

EligibleKeys = Callable[[pl.LazyFrame, Mapping[str, pl.LazyFrame]], pl.LazyFrame]
"""(keys, tables) -> the keys to score: `keys` holds the key column, `tables` every table the
declaration `reads`, by its `schema.table` name."""


@dataclass(frozen=True)
class BatchScoring:
    """What a model's batch scoring scores: the distinct values of `key` in `keys_table`
    (narrowed by `eligible`), each as of the latest snapshot every point-in-time lookup of the
    training set can serve (the feature tables' own timeseries columns), written to
    `<schema>.predictions`."""

    keys_table: str
    """Table (`schema.table`) whose distinct `key` values are the candidates to score."""
    key: str
    """The key column: named as in `keys_table` and as the training set's lookup key."""
    eligible: EligibleKeys | None = None
    """Keeps the keys worth scoring (e.g. customers not already churned); None: every key."""
    reads: tuple[str, ...] = ()
    """Tables `eligible` reads besides the keys (shown as the scores' upstream assets)."""

    def __post_init__(self) -> None:
        where = f"batch scoring of {self.keys_table!r}"
        for attribute in ("keys_table", "key"):
            typed_field(self, attribute, str, where)
        tuple_field(self, "reads", str, where)


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
    keep_truncated_windows: bool = False
    """False: training and evaluation leave out the labelled rows whose longest feature window
    starts before its feature table's history (`ml.windows.truncated_rows`: a 90-day count
    over 20 days of history is biased); True: they are kept. Either way the run logs how
    many there were (`rows_truncated_window`)."""
    owner: str = "team:ml"
    batch_scoring: BatchScoring | None = None
    """Declared: a `<schema>.predictions` asset and a `<name>_batch_score` job; None: none."""

    def __post_init__(self) -> None:
        where = f"model {self.name!r}"
        for attribute, kind in (("name", str), ("schema", str), ("description", str),
                                ("training_set", TrainingSetSpec),
                                ("batch_scoring", (BatchScoring, type(None)))):
            typed_field(self, attribute, kind, where)
        for attribute in ("not_features", "categorical", "slices"):
            tuple_field(self, attribute, str, where)
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

    @property
    def predictions_table(self) -> str:
        """Where batch scores go (one scored model per schema)."""
        return f"{self.schema}.predictions"

    def registered_name(self, env: str) -> str:
        return f"{env}.{self.schema}.{self.name}"

    @property
    def engine_columns(self) -> set[str]:
        """Columns of the training set that are never features, listed or not: its label time
        and the `snapshot_at` (as renamed) the engine adds to every feature table."""
        lookups = [s for s in self.training_set.feature_lookups if isinstance(s, FeatureLookup)]
        return {self.training_set.time_column, *(s.output_name(AS_OF) for s in lookups)}

    def feature_columns(self, columns: list[str]) -> list[str]:
        excluded = {*self.not_features, self.training_set.label, *self.engine_columns}
        return [c for c in columns if c not in excluded]
