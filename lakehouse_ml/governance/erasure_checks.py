"""The privilege checks of an erasure and their audit records.

An erasure checks every privilege it needs before any byte changes (`forget`), and Unity
Catalog's `system.access.audit` records every governed action, allowed or denied: a denial is
audited where it is decided (one 403 `checkPermission` record), and each allowed check is one
record too, written only once every check has passed (a denial anywhere leaves only its 403)
and only in a real run (a dry run checks the same way and records nothing it allowed). So each
check here returns an `Allowed` naming what it allowed, and `record` writes them.

Actions, after Databricks' audit log: a table's rows (and an online store's, whose feature
table guards them; a landed file's manifest) `generateTemporaryTableCredential` READ_WRITE; a
never-ingested landed file, on its manifest's schema (or catalog)
`generateTemporaryVolumeCredential` WRITE_VOLUME; a registered version's artifacts (and a run's
of the model: its experiment's, or the run that registered a version)
`generateTemporaryModelVersionCredential` READ_WRITE_MODEL_VERSION; a run no model governs,
on the catalog, `writeArtifact`; tagging a model's versions `needs_retraining`
`setModelVersionTag`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import ACCESS_ACTION, READ_WRITE, access
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.lineage import current_entity
from lakehouse_ml.governance.privileges import MANAGE, MODIFY

METHOD = "forget"
MODEL_VERSION_ACTION, WRITE_MODEL_VERSION = ("generateTemporaryModelVersionCredential",
                                             "READ_WRITE_MODEL_VERSION")
"""Databricks' audit action and operation for writing a registered model version's files."""
RUN_ACTION = "writeArtifact"
"""Databricks' audit action for writing an MLflow run's artifact (here: of a run no model
governs, checked on the catalog)."""
TAG_ACTION = "setModelVersionTag"
"""MLflow's (Unity Catalog registry's) call for setting a model version's tag."""


@dataclass(frozen=True)
class Allowed:
    """One allowed check of an erasure, as its audit record names it."""

    securable_type: str
    """The type of the securable checked (`TABLE`, `SCHEMA`, `CATALOG`, `MODEL`)."""
    securable: str
    """Its full name (`dev.bronze.people`, `dev.bronze`, `dev`, `dev.churn.churn_clf`)."""
    privilege: str
    action: str
    operation: str | None = None


def table(catalog: Catalog, name: str) -> Allowed:
    """MODIFY on the table `name` (`Catalog.check_write`: PermissionDenied, audited, else
    nothing recorded yet)."""
    checked = catalog.check_write(name, METHOD, audited=False)
    return Allowed(s.TABLE, str(checked), MODIFY, ACCESS_ACTION, READ_WRITE)


def model(catalog: Catalog, name: str, action: str, operation: str | None = None) -> Allowed:
    """MANAGE on the registered model `name` (`Catalog.check_model_owner`: PermissionDenied,
    audited); the `Allowed` names the securable the check was decided on: the model, or where
    the metastore does not declare it, the container `Access.check_within` checked (asked
    again: the allowed check is remembered, no second decision)."""
    full = catalog.check_model_owner(name)
    kind, checked = access(catalog.root, catalog.env).check_within(
        catalog.principal, MANAGE, s.MODEL, full)
    return Allowed(kind, checked, MANAGE, action, operation)


def within(catalog: Catalog, privilege: str, kind: str, name: str, action: str,
           operation: str | None = None) -> Allowed:
    """`privilege` on `kind name` or its closest declared container (`Access.check_within`:
    PermissionDenied, audited, also when nothing along the chain is declared)."""
    checked_kind, checked = access(catalog.root, catalog.env).check_within(
        catalog.principal, privilege, kind, name)
    return Allowed(checked_kind, checked, privilege, action, operation)


def record(catalog: Catalog, allowed: Iterable[Allowed]) -> None:
    """One audit record per distinct allowed check (service `unityCatalog`, status 200, in the
    current run): principal, securable, securable_type, privilege, action, operation (when
    there is one), method `forget`. Call once every check has passed, in a real run only."""
    checks, run_id = access(catalog.root, catalog.env), current_entity().run_id
    for a in dict.fromkeys(allowed):
        checks.record(catalog.principal, a.securable, a.operation, METHOD,
                      {"securable_type": a.securable_type, "privilege": a.privilege},
                      action=a.action, run_id=run_id)
