"""The model part of an erasure: which registered versions learned from the subject.

A version learned from the subject when the training set version it pinned (its
`data_versions` tag) has one of the subject's rows; that is read before the tables are
vacuumed. A version whose pinned training set cannot be read (no tag, vacuumed earlier) is
counted as having learned from it (fail closed), with the reason (a note: tagging it is
erasure enough, so it is not an erasure's problem). `tag` sets `needs_retraining` on each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.erasure_match import key_match
from lakehouse_ml.governance.erasure_places import ErasedPlace
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from lakehouse_ml.ml.spec import ModelSpec

NEEDS_RETRAINING = "needs_retraining"
"""Model version tag: the version learned from a data subject erased since (the value says
when and which key, hashed)."""


def plan(catalog: Catalog, client: MlflowClient, specs: Sequence[ModelSpec],
         keys: Mapping[str, Mapping[str, tuple[pl.DataType, Any]]], key_digest: str
         ) -> list[ErasedPlace]:
    """One place (`model/version`, rows: the subject's rows in its training set) per version
    that learned from the subject, but those already tagged for it (`key_digest`, an
    erasure of the same subject run before: a rerun does not report them again)."""
    found = []
    for spec in specs:
        model = spec.registered_name(catalog.env)
        table = catalog.name(spec.training_set.name)
        subject_keys = keys.get(f"{table.schema}.{table.name}", {})
        try:
            versions = client.search_model_versions(f"name = '{model}'")
        except MlflowException:
            continue
        for version in versions:
            if key_digest in (version.tags or {}).get(NEEDS_RETRAINING, ""):
                continue
            rows, problem = _rows(catalog, str(table), version.tags or {}, subject_keys)
            if rows or problem:
                found.append(ErasedPlace("model_version", f"{model}/{version.version}",
                                         rows, problem=problem))
    return found


def _rows(catalog: Catalog, table: str, tags: Mapping[str, str],
          keys: Mapping[str, tuple[pl.DataType, Any]]) -> tuple[int, str | None]:
    """The subject's rows in the version's pinned training set; why that cannot be told."""
    try:
        pinned = int(json.loads(tags.get(DATA_VERSIONS) or "{}")[table])
    except (ValueError, KeyError, TypeError):
        return 0, f"its {DATA_VERSIONS} tag does not pin {table}: counted as trained on it"
    if not keys:
        return 0, None
    try:
        frame = catalog.lake.scan(catalog.location(table), pinned)
        filters = [key_match(c, d, v) for c, (d, v) in keys.items()]
        return frame.filter(pl.any_horizontal(filters)).select(pl.len()).collect().item(), None
    except Exception as error:  # noqa: BLE001 - any unreadable pin fails closed, said
        return 0, (f"{table} version {pinned} cannot be read ({' '.join(str(error).split())}):"
                   " counted as trained on it")


def tag(client: MlflowClient, places: Sequence[ErasedPlace], key_digest: str) -> None:
    """Set `needs_retraining` on every version of `places`."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for place in places:
        model, _, version = place.name.rpartition("/")
        client.set_model_version_tag(model, version, NEEDS_RETRAINING,
                                     f"data subject {key_digest} erased at {when}")
