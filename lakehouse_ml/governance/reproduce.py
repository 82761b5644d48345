"""Reproduce a registered model version's training set and prove it identical.

A version records the Delta versions it was trained from (`data_versions`: the label and
feature tables, and the stored training set) and the content hash of the frame it was fitted
on (`training_set_sha256`, see `reproduce_hash`). `reproduce` rebuilds that frame from the
pinned label and feature versions with the code path the pipeline uses
(`build_training_set`, i.e. `create_training_set`), as the catalog's principal (EXECUTE on
the model, to read its version, then SELECT on every pinned table; its row filters and
masks apply, so the proof holds for a principal who sees what the pipeline saw), and
compares hashes. When they differ it names the columns whose values differ and counts the
rows, against the stored training set at its pinned version.
When time travel can no longer reach a pinned version as committed (VACUUM deleted its
files, its log entry expired, or a data file was rewritten since) or a data subject was erased
after training (an erasure record in `governance.audit_log`), it says so instead
(`NotReproducible`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

import polars as pl
from deltalake.exceptions import DeltaError
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.training_table import build_training_set
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_LOG
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.governance.reproduce_hash import TAG, TrainingSetDigest
from lakehouse_ml.ml.registry import CHAMPION, alias_version
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from lakehouse_ml.ml.spec import ModelSpec

ERASURE_ACTIONS = ("forgetSubject",)
"""`action_name`s of the audit records an erasure (`lakehouse-ml forget`) leaves."""
SAMPLE_COLUMNS = 3


class NotReproducible(LookupError):
    """The training set cannot be rebuilt as it was: the message says why, in one line."""


@dataclass(frozen=True)
class Reproduction:
    model: str
    version: int
    training_set: str
    """`<full name>@<Delta version>` of the stored training set the version pinned."""
    recorded: str
    """The `training_set_sha256` recorded at training time."""
    rebuilt: TrainingSetDigest
    differences: tuple[str, ...]
    """Empty when identical; else what differs (columns, rows), one phrase each."""

    @property
    def identical(self) -> bool:
        return self.rebuilt.sha256 == self.recorded

    @property
    def message(self) -> str:
        where = f"{self.model} version {self.version}: training set {self.training_set}"
        if self.identical:
            return (f"{where} rebuilt from its pinned versions is identical ({self.rebuilt.rows}"
                    f" rows, sha256 {self.recorded})")
        return (f"{where} rebuilt from its pinned versions differs: sha256 "
                f"{self.rebuilt.sha256} is not the recorded {self.recorded}; "
                + "; ".join(self.differences))


def reproduce(catalog: Catalog, client: MlflowClient, spec: ModelSpec,
              version: int | None = None) -> Reproduction:
    """Rebuild the training set of `spec`'s registered `version` (default: the champion) and
    compare it with the hash recorded at training time. NotReproducible (one line) when there
    is no such version or champion, the version recorded no hash, a pinned label or feature
    table version can no longer be read, or a subject was erased since; PermissionDenied
    (audited) when the principal lacks EXECUTE on the model (`Catalog.see_model`, decided
    before the registry is asked about it: the same denial whether the version exists or
    not) or SELECT on a pinned table (naming the table)."""
    model = catalog.see_model(spec.registered_name(catalog.env))
    version = _version(client, model, version)
    found = client.get_model_version(model, str(version))
    tags, subject = found.tags or {}, f"{model} version {version}"
    recorded = tags.get(TAG)
    pinned = _pinned(tags.get(DATA_VERSIONS), subject)
    if not recorded:
        raise NotReproducible(f"{subject} records no {TAG} tag (trained before training sets "
                              "were hashed): there is nothing to prove a rebuild against")
    table = str(catalog.name(spec.training_set.name))
    if table not in pinned:
        raise NotReproducible(f"{subject}: its {DATA_VERSIONS} tag does not pin {table}")
    inputs = {name: v for name, v in pinned.items() if name != table}
    trained_at = datetime.fromtimestamp(found.creation_timestamp / 1000, UTC)
    for name, pinned_version in sorted(inputs.items()):
        catalog.check_read(name, "reproduce")
        gone = _unreachable(catalog, name, pinned_version)
        if gone:
            raise NotReproducible(
                f"{subject}: time travel can no longer reach {name} version {pinned_version} "
                f"as committed ({gone}); its training set cannot be rebuilt"
                f"{_erasure(catalog, trained_at)}")
    frame = build_training_set(FeatureEngineeringClient(catalog), spec.training_set, inputs)[2]
    rebuilt = TrainingSetDigest.of(frame)
    stored = f"{table}@{pinned[table]}"
    if rebuilt.sha256 == recorded:
        return Reproduction(model, version, stored, recorded, rebuilt, ())
    differences = (*_differences(catalog, table, pinned[table], recorded, frame, rebuilt),
                   *_erased(catalog, trained_at))
    return Reproduction(model, version, stored, recorded, rebuilt, differences)


def _version(client: MlflowClient, model: str, version: int | None) -> int:
    if version is not None:
        return version
    champion = alias_version(client, model, CHAMPION)
    if champion is None:
        raise NotReproducible(f"{model} has no {CHAMPION}: name a version (MODEL/VERSION)")
    return champion


def _pinned(tag: str | None, subject: str) -> dict[str, int]:
    try:
        pinned = json.loads(tag or "")
        return {str(name): int(v) for name, v in pinned.items()}
    except (ValueError, TypeError, AttributeError):
        raise NotReproducible(f"{subject} has no readable {DATA_VERSIONS} tag: which Delta "
                              "versions it was trained from is unknown") from None


def _unreachable(catalog: Catalog, name: str, version: int) -> str | None:
    """Why version `version` of table `name` cannot be read in full; None when it can."""
    try:
        damaged = catalog.lake.damaged_files(catalog.location(name), version)
    except DeltaError as error:
        return f"its Delta log no longer holds that version: {' '.join(str(error).split())}"
    deleted = [f for f, why in damaged.items() if why == "deleted"]
    if deleted:
        return (f"VACUUM deleted {len(deleted)} of its data files, e.g. "
                f"{PurePosixPath(deleted[0]).name}")
    if damaged:
        file, why = next(iter(damaged.items()))
        return (f"{len(damaged)} of its data files changed after their commit, e.g. "
                f"{PurePosixPath(file).name}: {why}")
    return None


def _erasures(catalog: Catalog, after: datetime) -> pl.DataFrame:
    if not catalog.exists(AUDIT_LOG):
        return pl.DataFrame()
    return catalog.scan(AUDIT_LOG).filter(
        pl.col("action_name").is_in(ERASURE_ACTIONS) & (pl.col("event_time") > after)
    ).sort("event_time").collect()


def _erased(catalog: Catalog, trained_at: datetime) -> tuple[str, ...]:
    """One phrase when a subject was erased after `trained_at` (or the audit log that would
    say so cannot be read by the principal); none otherwise."""
    try:
        records = _erasures(catalog, trained_at)
    except PermissionDenied:
        return (f"whether a data subject was erased since cannot be told: reading "
                f"{catalog.name(AUDIT_LOG)} needs SELECT",)
    if records.is_empty():
        return ()
    first = records.row(0, named=True)
    return (f"a data subject was erased after training ({records.height} erasure record(s) "
            f"in {catalog.name(AUDIT_LOG)}, the first at {first['event_time']:%Y-%m-%dT%H:%M:%SZ}"
            f" by {first['user_identity']['email']}): the rows it held are gone",)


def _erasure(catalog: Catalog, trained_at: datetime) -> str:
    said = _erased(catalog, trained_at)
    return f"; {said[0]}" if said else ""


def _differences(catalog: Catalog, table: str, version: int, recorded: str,
                 frame: pl.DataFrame, rebuilt: TrainingSetDigest) -> list[str]:
    """What differs between the rebuilt frame and the stored training set at its pinned
    version (when that can still be read and holds what was trained on)."""
    gone = _unreachable(catalog, table, version)
    if gone:
        return [f"the stored training set {table} version {version} cannot be read ({gone}), "
                "so the differing columns and rows cannot be named"]
    stored = catalog.read(table, version)
    digest = TrainingSetDigest.of(stored)
    said = [] if digest.sha256 == recorded else [
        f"the stored {table} version {version} does not hash to the recorded value either"]
    added = sorted(set(rebuilt.columns) - set(digest.columns))
    dropped = sorted(set(digest.columns) - set(rebuilt.columns))
    changed = sorted(c for c in set(rebuilt.columns) & set(digest.columns)
                     if rebuilt.columns[c] != digest.columns[c])
    said += [f"{what}: {', '.join(cols)}" for what, cols in (
        ("columns only in the rebuild", added), ("columns only in the stored set", dropped),
        ("columns whose values differ", changed)) if cols]
    said += _rows(frame, stored, [c for c in frame.columns if c in digest.columns])
    return said


def _rows(frame: pl.DataFrame, stored: pl.DataFrame, shared: list[str]) -> list[str]:
    """How many rows only one side holds (compared on the shared columns), with a sample."""
    keys = [c for c in shared if not isinstance(frame.schema[c], pl.List | pl.Struct | pl.Array)]
    if not keys:
        return []
    left = frame.select(keys)
    right = stored.select(keys).cast(dict(left.schema), strict=False)
    only_new = left.join(right, on=keys, how="anti", nulls_equal=True)
    only_old = right.join(left, on=keys, how="anti", nulls_equal=True)
    if only_new.is_empty() and only_old.is_empty():
        return [f"no row differs in the columns compared ({', '.join(keys)}); rows: "
                f"{frame.height} rebuilt, {stored.height} stored"]
    said = f"{only_new.height} row(s) only in the rebuild, {only_old.height} only in the stored set"
    sample = (only_new if only_new.height else only_old).row(0, named=True)
    return [said + " (e.g. " + ", ".join(f"{k}={sample[k]}" for k in keys[:SAMPLE_COLUMNS]) + ")"]
