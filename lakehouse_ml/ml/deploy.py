"""Alias moves: promote a validated version, park a failed one as challenger, roll back.

Every move is recorded (who, when, why) in `<schema>.alias_changes`.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ml.gates import Gate
from lakehouse_ml.ml.records import record_alias_change, record_validation
from lakehouse_ml.ml.registry import CHALLENGER, CHAMPION, PREVIOUS, alias_version


class NothingToRollBack(RuntimeError):
    """No previous champion is recorded for this model."""


def _move(
    catalog: Catalog, client: MlflowClient, schema: str, model: str, alias: str,
    version: int, actor: str, reason: str,
) -> None:
    before = alias_version(client, model, alias)
    client.set_registered_model_alias(model, alias, str(version))
    record_alias_change(catalog, schema, model, alias, before, version, actor, reason)


def record_gates(
    catalog: Catalog, client: MlflowClient, schema: str, model: str, version: int,
    run_id: str, gates: Sequence[Gate],
) -> bool:
    """Write the gate results to the run, the version's tags and the Delta table."""
    passed = all(g.passed for g in gates)
    for gate in gates:
        client.log_metric(run_id, f"gate.{gate.name}", 1.0 if gate.passed else 0.0)
        client.set_model_version_tag(model, str(version), f"validation.{gate.name}",
                                     gate.row()[2])
    client.set_model_version_tag(model, str(version), "validation_status",
                                 "passed" if passed else "failed")
    record_validation(catalog, schema, model, version, run_id, [g.row() for g in gates])
    return passed


def deploy(
    catalog: Catalog, client: MlflowClient, schema: str, model: str, version: int,
    passed: bool, actor: str,
) -> str:
    """Champion for a validated version (the old one kept as previous_champion);
    challenger at most for one that failed. Returns the alias the version got."""
    if not passed:
        _move(catalog, client, schema, model, CHALLENGER, version, actor,
              "failed validation gates: challenger only")
        return CHALLENGER
    current = alias_version(client, model, CHAMPION)
    if current == version:
        return CHAMPION
    if current is not None:
        _move(catalog, client, schema, model, PREVIOUS, current, actor,
              f"replaced by version {version}")
    _move(catalog, client, schema, model, CHAMPION, version, actor, "passed validation gates")
    return CHAMPION


def rollback(
    catalog: Catalog, client: MlflowClient, schema: str, model: str, actor: str, reason: str,
) -> int:
    """Make the previous champion champion again; the demoted one becomes previous_champion."""
    previous = alias_version(client, model, PREVIOUS)
    if previous is None:
        raise NothingToRollBack(f"{model} has no {PREVIOUS} alias: nothing to roll back to")
    current = alias_version(client, model, CHAMPION)
    _move(catalog, client, schema, model, CHAMPION, previous, actor, f"rollback: {reason}")
    if current is not None:
        _move(catalog, client, schema, model, PREVIOUS, current, actor, f"rolled back: {reason}")
    return previous
