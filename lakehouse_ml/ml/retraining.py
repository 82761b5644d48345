"""Whether training has anything new to learn from.

A registered version records the Delta versions it was trained from (its `data_versions` tag:
the training set's and those of the feature and label tables it was built from). Training again
from exactly the same versions would register a copy of a model the registry already judged, so
it is skipped unless forced. So is a version registered from them whose validation has not
finished while the run that registered it (its `registered_by` tag) is still alive: that run is
validating it (a run that died leaves it unjudged, and training again is the way to get one).
The same holds for a version trained on the same training-set content (its `training_set_sha256`
tag, `governance.reproduce_hash`) although the data versions moved on: a new day can give the
feature tables and the training set new Delta versions without adding or changing one row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from mlflow import MlflowClient

from lakehouse_ml.governance.reproduce_hash import TAG as TRAINING_SET_SHA256
from lakehouse_ml.ml.registry import CHAMPION, alias_version

DATA_VERSIONS = "data_versions"
VALIDATION_STATUS = "validation_status"
REGISTERED_BY = "registered_by"
"""Tag of a version: the id of the (Dagster) run that trained and registered it."""


@dataclass(frozen=True)
class AlreadyTrained:
    """Version `version` of `model` was trained from `data_versions`, the current ones, or
    (`training_set_sha256` set) from other data versions holding the same training-set content,
    this hash."""

    model: str
    version: int
    state: str
    """`champion`, `validation passed`, `validation failed` or `validation in progress ...`."""
    data_versions: dict[str, int]
    training_set_sha256: str | None = None

    @property
    def message(self) -> str:
        pinned = ", ".join(f"{t}@{v}" for t, v in sorted(self.data_versions.items()))
        same = (f"the same data versions ({pinned})" if self.training_set_sha256 is None else
                f"the same training set content ({TRAINING_SET_SHA256} "
                f"{self.training_set_sha256}; the data versions are now {pinned})")
        return (f"{self.model}: not retrained, version {self.version} ({self.state}) was "
                f"trained from {same}; force retraining with "
                "`lakehouse-ml run --force` or the train op's config `force: true`")


def already_trained(client: MlflowClient, model: str, data_versions: dict[str, int],
                    alive: Callable[[str], bool] = lambda run: False,
                    training_set_sha256: str | None = None) -> AlreadyTrained | None:
    """The version of `model` trained from exactly `data_versions` (table name → Delta
    version), or, given `training_set_sha256` (hex, `TrainingSetDigest.sha256`), from a
    training set with that content, whose validation completed or is in progress (its
    `registered_by` run is `alive`): the champion if it is one, else the newest. None when
    there is none (a version whose validation never finished does not count: training again is
    the only way to get one validated)."""
    champion = alias_version(client, model, CHAMPION)
    matches = []
    for found in client.search_model_versions(f"name = '{model}'"):
        tags = found.tags or {}
        if _parsed(tags.get(DATA_VERSIONS)) == data_versions:
            content = None
        elif training_set_sha256 and tags.get(TRAINING_SET_SHA256) == training_set_sha256:
            content = training_set_sha256
        else:
            continue
        version = int(found.version)
        if version == champion:
            return AlreadyTrained(model, version, CHAMPION, data_versions, content)
        if tags.get(VALIDATION_STATUS) in ("passed", "failed"):
            matches.append((version, f"validation {tags[VALIDATION_STATUS]}", content))
        elif REGISTERED_BY in tags and alive(tags[REGISTERED_BY]):
            matches.append((version, f"validation in progress in run {tags[REGISTERED_BY]}",
                            content))
    if not matches:
        return None
    version, state, content = max(matches, key=lambda match: match[0])
    return AlreadyTrained(model, version, state, data_versions, content)


def _parsed(tag: str | None) -> dict[str, int] | None:
    try:
        return json.loads(tag) if tag else None
    except ValueError:
        return None
