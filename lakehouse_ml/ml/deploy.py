"""Alias moves: promote a validated version, park a failed one as challenger, roll back.

Every move is recorded (who, when, why) in `<schema>.alias_changes`, and that history is what
a rollback goes back through; each is also a `setRegisteredModelAlias` record (Unity Catalog's
action name) in `governance.audit_log`, as the catalog's principal. A move needs the right to
change the registered model (`Catalog.check_model_owner`: its owner, or MANAGE on it, with USE
CATALOG + USE SCHEMA): without it, PermissionDenied naming principal, privilege and model,
audited (403), and no alias moves. A move to the version the alias already points to is
checked the same way, then changes nothing and records nothing (no row, no audit record).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.metastore import audit
from lakehouse_ml.ml.gates import Gate
from lakehouse_ml.ml.records import record_alias_change, record_validation
from lakehouse_ml.ml.registry import CHALLENGER, CHAMPION, PREVIOUS, alias_version
from lakehouse_ml.ml.retraining import VALIDATION_STATUS

ALIAS_ACTION = "setRegisteredModelAlias"
ROLLBACK = "rollback: "
"""How the reason of a champion move made by `rollback` starts in `alias_changes`."""


class NothingToRollBack(RuntimeError):
    """No earlier champion of this model can be restored."""


class RollbackRefused(RuntimeError):
    """The version asked for cannot become champion: missing, not validated, or champion."""


def _move(
    catalog: Catalog, client: MlflowClient, schema: str, model: str, alias: str,
    version: int, actor: str, reason: str,
) -> None:
    full = catalog.check_model_owner(model)
    before = alias_version(client, model, alias)
    if before == version:
        return
    client.set_registered_model_alias(model, alias, str(version))
    record_alias_change(catalog, schema, model, alias, before, version, actor, reason)
    audit(catalog.root, catalog.env, catalog.principal, ALIAS_ACTION, {
        "full_name_arg": full, "alias": alias, "version_num": str(version),
        "from_version": "" if before is None else str(before), "reason": reason})


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
    client.set_model_version_tag(model, str(version), VALIDATION_STATUS,
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
        catalog.check_model_owner(model)
        return CHAMPION
    if current is not None:
        _move(catalog, client, schema, model, PREVIOUS, current, actor,
              f"replaced by version {version}")
    _move(catalog, client, schema, model, CHAMPION, version, actor, "passed validation gates")
    return CHAMPION


def rollback(
    catalog: Catalog, client: MlflowClient, schema: str, model: str, actor: str, reason: str,
    to_version: int | None = None,
) -> int:
    """Make `to_version`, by default the champion before the current one, champion again;
    the demoted one becomes previous_champion. Returns the new champion's version.

    "Before" is read from the alias history (`<schema>.alias_changes`), never from the
    previous_champion alias: a version once rolled back is skipped, so rolling back twice goes
    further back instead of re-promoting the version just rolled back; so is a version that is
    no longer registered or has not passed validation. Raises `NothingToRollBack` when no such
    version is left, `RollbackRefused` when `to_version` does not exist, has not passed
    validation or is the champion already. The principal's right to move the model's aliases
    is checked first (`Catalog.check_model_owner`): a caller without it learns nothing of the
    model's versions or history from a refusal."""
    catalog.check_model_owner(model)
    current = alias_version(client, model, CHAMPION)
    if to_version is None:
        target = next((v for v in _earlier_champions(catalog, schema, model, current)
                       if _refusal(client, model, v) is None), None)
        if target is None:
            raise NothingToRollBack(f"{model}: no earlier champion to roll back to (versions "
                                    "rolled back or not validated are skipped)")
    else:
        refusal = ("it is the champion already" if to_version == current
                   else _refusal(client, model, to_version))
        if refusal is not None:
            raise RollbackRefused(f"{model}: cannot roll back to version {to_version}: {refusal}")
        target = to_version
    _move(catalog, client, schema, model, CHAMPION, target, actor, f"{ROLLBACK}{reason}")
    if current is not None:
        _move(catalog, client, schema, model, PREVIOUS, current, actor, f"rolled back: {reason}")
    return target


def _earlier_champions(catalog: Catalog, schema: str, model: str, current: int | None
                       ) -> list[int]:
    """Versions that were champion and were never rolled back, latest first, without
    `current`: each champion move puts its version on top, a rollback also drops the version
    it demoted."""
    table = f"{schema}.alias_changes"
    if not catalog.exists(table):
        return []
    moves = (catalog.read(table)
             .filter(pl.col("model") == model, pl.col("alias") == CHAMPION)
             .sort("changed_at", maintain_order=True))
    order: list[int] = []
    for before, after, why in moves.select("from_version", "to_version", "reason").rows():
        dropped = {after, before if why.startswith(ROLLBACK) else None}
        order = [v for v in order if v not in dropped]
        if after is not None:
            order.append(after)
    return [v for v in reversed(order) if v != current]


def _refusal(client: MlflowClient, model: str, version: int) -> str | None:
    """Why `version` may not become champion (None if it may)."""
    try:
        found = client.get_model_version(model, str(version))
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return "no such version is registered"
    status = (found.tags or {}).get(VALIDATION_STATUS)
    if status != "passed":
        return f"it has not passed validation ({VALIDATION_STATUS}: {status or 'none'})"
    return None
