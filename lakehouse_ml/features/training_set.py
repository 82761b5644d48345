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
from lakehouse_ml.features.pit import ResolvedLookup, join_matched, resolve
from lakehouse_ml.features.table import load_table

Step = FeatureLookup | FeatureFunction


@dataclass(frozen=True)
class LookupMatch:
    """What one lookup found for each row of a training set (rows in `df` order)."""

    name: str
    """`lookup <n> on <full table name>`, n counting lookups from 1."""
    matched: pl.Series
    """Boolean: a feature row was found (a default value filled in does not count)."""
    matched_at: pl.Series | None
    """UTC timestamp of the matched feature row (null where none); None if the table has no
    timeseries column."""


@dataclass(frozen=True)
class MissingFeatures:
    """Rows that found no feature row: in every lookup at once, and per lookup."""

    rows: int
    in_every_lookup: int
    by_lookup: dict[str, int]

    @classmethod
    def of(cls, rows: int, matches: Sequence[LookupMatch]) -> MissingFeatures:
        by_lookup = {m.name: int((~m.matched).sum()) for m in matches}
        if not matches:
            return cls(rows, rows, by_lookup)
        none = pl.DataFrame([m.matched.alias(m.name) for m in matches]).select(
            ~pl.any_horizontal(pl.all())).to_series()
        return cls(rows, int(none.sum()), by_lookup)


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
        return self.load_with_matches()[0]

    def load_with_matches(self) -> tuple[pl.DataFrame, list[LookupMatch]]:
        """`load_df`, plus what each lookup matched per row (for leakage and missing-feature
        checks; the frame's columns are those of `load_df`)."""
        frame, matches = self.df, []
        for number, lookup in enumerate(self.resolved, start=1):
            source = self.catalog.scan(lookup.table.name, lookup.table.version)
            joined = join_matched(self.df, lookup, source)
            frame = frame.hstack(joined.features)
            matches.append(LookupMatch(f"lookup {number} on {lookup.table.name}",
                                       joined.matched, joined.matched_at))
        return apply_functions(frame, self.functions).drop(self.exclude_columns), matches

    def missing_features(self) -> MissingFeatures:
        """How many rows found no feature row in any lookup, and per lookup."""
        return MissingFeatures.of(self.df.height, self.load_with_matches()[1])


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
