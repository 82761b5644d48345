"""A declared training set, built at pinned versions and kept as a Delta table.

The table's catalog tags record the version of every feature table and of the labels it read,
so the exact frame can be rebuilt later (`rebuild_training_set`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from lakehouse_ml.catalog import TableInfo
from lakehouse_ml.features.client import FeatureEngineeringClient
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.features.training_set import LookupMatch, MissingFeatures, TrainingSet
from lakehouse_ml.medallion.spec import TrainingSetSpec

PINNED = "pinned_version:"


@dataclass(frozen=True)
class BuiltTrainingSet:
    training_set: TrainingSet
    frame: pl.DataFrame
    versions: dict[str, int]
    """Every table read → its Delta version (labels included)."""
    table_version: int
    matches: list[LookupMatch]
    """What each lookup matched, per row of `frame`."""
    outside_population: int = 0
    """Label rows left out because `spec.population` is not true for them."""

    @property
    def missing(self) -> MissingFeatures:
        return MissingFeatures.of(self.frame.height, self.matches)


def _labels(client: FeatureEngineeringClient, spec: TrainingSetSpec, version: int) -> pl.DataFrame:
    """Label rows without lineage columns, in a stable order (silver's order is not)."""
    rows = client.catalog.scan(spec.labels, version).select(pl.exclude("^_.*$"))
    return rows.sort([c for c in rows.collect_schema() if c != spec.label]).collect()


def build_training_set(
    client: FeatureEngineeringClient, spec: TrainingSetSpec,
    versions: Mapping[str, int] | None = None,
) -> tuple[TrainingSet, dict[str, int], pl.DataFrame]:
    """The training set at the given versions (default: current ones), in label-time order,
    its rows those of `spec.population`."""
    training_set, used = _resolve(client, spec, versions)
    return training_set, used, _in_population(spec, *training_set.load_with_matches())[0]


def _in_population(spec: TrainingSetSpec, frame: pl.DataFrame, matches: list[LookupMatch]
                   ) -> tuple[pl.DataFrame, list[LookupMatch]]:
    """The rows of `frame` (and of each lookup's matches) where `spec.population` is true;
    all of them when the spec declares none."""
    if spec.population is None:
        return frame, matches
    keep = spec.in_population(frame)
    return frame.filter(keep), [
        LookupMatch(m.name, m.matched.filter(keep),
                    None if m.matched_at is None else m.matched_at.filter(keep))
        for m in matches]


def _resolve(
    client: FeatureEngineeringClient, spec: TrainingSetSpec, versions: Mapping[str, int] | None
) -> tuple[TrainingSet, dict[str, int]]:
    """The training set (not loaded) and every table it reads → its Delta version."""
    labels_name = str(client.catalog.name(spec.labels))
    pinned = dict(versions or {})
    label_version = pinned.pop(labels_name, None)
    if label_version is None:
        label_version = client.catalog.version(spec.labels)
    training_set = client.create_training_set(
        _labels(client, spec, label_version), list(spec.feature_lookups), spec.label,
        exclude_columns=spec.exclude_columns, versions=pinned or None,
    )
    return training_set, {labels_name: label_version, **training_set.table_versions}


def write_training_set(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> BuiltTrainingSet:
    training_set, versions = _resolve(client, spec, None)
    every, every_match = training_set.load_with_matches()
    frame, matches = _in_population(spec, every, every_match)
    if _unchanged(client, spec, versions, frame):
        version = client.catalog.version(spec.name)
    else:
        tags = {f"{PINNED}{name}": str(v) for name, v in versions.items()}
        info = TableInfo(owner=spec.owner, comment=spec.description, tags=tags)
        client.catalog.create_table(spec.name, frame.schema, info)
        version = client.catalog.overwrite(spec.name, frame, evolve=True)
    return BuiltTrainingSet(training_set, frame, versions, version, matches,
                            every.height - frame.height)


def _unchanged(client: FeatureEngineeringClient, spec: TrainingSetSpec,
               versions: Mapping[str, int], frame: pl.DataFrame) -> bool:
    """The stored training set was built from `versions` and holds `frame`: writing it again
    would only add a Delta version (and make its models look trained on other data)."""
    return (client.catalog.exists(spec.name) and pinned_versions(client, spec) == versions
            and client.catalog.read(spec.name).equals(frame))


def pinned_versions(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> dict[str, int]:
    tags = client.catalog.describe(spec.name).info.tags
    return {k.removeprefix(PINNED): int(v) for k, v in tags.items() if k.startswith(PINNED)}


def rebuild_training_set(client: FeatureEngineeringClient, spec: TrainingSetSpec) -> pl.DataFrame:
    """The frame the stored training set was built from, recomputed from its pinned versions."""
    return build_training_set(client, spec, pinned_versions(client, spec))[2]


def leakage(frame: pl.DataFrame, spec: TrainingSetSpec, matches: list[LookupMatch]) -> pl.DataFrame:
    """Per source of feature time, rows whose feature time is later than the label time (must be
    0): the timestamp of the feature row each lookup matched (`lookup <n> on <table>`), and each
    `*_snapshot_at` column a lookup returned. Columns: source, later_than_label, matched, rows;
    `later_than_label` and `matched` are null for a lookup whose table has no timeseries column
    (nothing to compare)."""
    label_time = frame.get_column(spec.time_column).dt.convert_time_zone("UTC")
    sources = [(m.name, m.matched_at) for m in matches]
    sources += [(c, frame[c].dt.convert_time_zone("UTC"))
                for c in frame.columns if c.endswith(f"_{AS_OF}")]
    return pl.DataFrame({
        "source": [name for name, _ in sources],
        "later_than_label": [None if t is None else int((t > label_time).sum())
                             for _, t in sources],
        "matched": [None if t is None else int(t.is_not_null().sum()) for _, t in sources],
        "rows": [frame.height] * len(sources),
    }, schema={"source": pl.String, "later_than_label": pl.Int64,
               "matched": pl.Int64, "rows": pl.Int64})


def leakage_verdict(report: pl.DataFrame) -> str | None:
    """Why the leakage check fails (None if it passes): a feature time later than its label, or
    nothing to compare (no rows, a lookup on a table without timeseries column, no match)."""
    later = report.filter(pl.col("later_than_label") > 0)
    if later.height:
        return "feature rows later than their label time: " + ", ".join(
            f"{s} ({n} rows)" for s, n in later.select("source", "later_than_label").rows())
    if report.is_empty():
        return "no lookup returns a feature time: there is nothing to check"
    if report["rows"][0] == 0:
        return "the training set has no rows: there is no feature time to check"
    blind = report.filter(pl.col("matched").is_null())["source"].to_list()
    if blind:
        return (f"{', '.join(blind)}: the table has no timeseries column, so the time of its "
                "feature rows cannot be checked against the label time")
    if report["matched"].sum() == 0:
        return "no row matched any feature row: there is no feature time to check"
    return None
