"""Training sets: label rows joined point-in-time with feature tables at pinned Delta versions.

A training set records the exact version of every table it reads, so `load_df` returns the same
frame however much is written afterwards, and passing `table_versions` back to
`create_training_set(..., versions=...)` rebuilds it elsewhere bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features.errors import FeatureCollisionError, FeatureStoreError
from lakehouse_ml.features.functions import FeatureFunction, apply_functions
from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.features.pit import ResolvedLookup, join_features, resolve
from lakehouse_ml.features.table import load_table

Step = FeatureLookup | FeatureFunction


@dataclass(frozen=True)
class TrainingSet:
    df: pl.DataFrame
    feature_lookups: tuple[Step, ...]
    label: str | None
    exclude_columns: tuple[str, ...]
    table_versions: dict[str, int]
    """Full table name -> the Delta version every lookup on it reads."""
    catalog: Catalog = field(repr=False)
    resolved: tuple[ResolvedLookup, ...] = field(repr=False)

    @property
    def functions(self) -> list[FeatureFunction]:
        return [s for s in self.feature_lookups if isinstance(s, FeatureFunction)]

    def load_df(self) -> pl.DataFrame:
        """The rows of `df` in order, with every looked-up and computed feature."""
        frame = self.df
        for lookup in self.resolved:
            source = self.catalog.scan(lookup.table.name, lookup.table.version)
            frame = frame.hstack(join_features(self.df, lookup, source))
        return apply_functions(frame, self.functions).drop(self.exclude_columns)


def build(
    catalog: Catalog, df: pl.DataFrame, feature_lookups: Sequence[Step], label: str | None,
    exclude_columns: Sequence[str], versions: Mapping[str, int] | None,
) -> TrainingSet:
    """Resolve every lookup against its table version now, so errors surface before any join."""
    if label is not None and label not in df.columns:
        raise FeatureStoreError(f"label column {label!r} is not in the rows ({df.columns})")
    pinned = {str(catalog.name(name)): v for name, v in (versions or {}).items()}
    resolved = []
    for step in feature_lookups:
        if isinstance(step, FeatureLookup):
            name = str(catalog.name(step.table_name))
            if name not in pinned:
                pinned[name] = catalog.version(name)
            resolved.append(resolve(step, load_table(catalog, name, pinned[name]), df.schema))
    columns = output_columns(df, resolved, feature_lookups)
    unknown = [c for c in exclude_columns if c not in columns]
    if unknown:
        raise FeatureStoreError(f"exclude_columns {unknown} are not in the training set")
    used = {lookup.table.name for lookup in resolved}
    return TrainingSet(
        df, tuple(feature_lookups), label, tuple(exclude_columns),
        {name: v for name, v in pinned.items() if name in used}, catalog, tuple(resolved),
    )


def output_columns(
    df: pl.DataFrame, resolved: list[ResolvedLookup], steps: Sequence[Step]
) -> list[str]:
    """All columns of the training set; two outputs with one name are refused."""
    origin = {c: "the rows" for c in df.columns}
    produced = [(o, f"lookup on {r.table.name}") for r in resolved for o in r.outputs]
    produced += [
        (s.output, f"feature function {s.name!r}") for s in steps if isinstance(s, FeatureFunction)
    ]
    for column, source in produced:
        if column in origin:
            raise FeatureCollisionError(
                f"column {column!r} from {source} collides with {column!r} from "
                f"{origin[column]}; use rename_outputs (or output_name) to tell them apart"
            )
        origin[column] = source
    return list(origin)
