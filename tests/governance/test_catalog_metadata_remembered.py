"""The metadata calls (`describe`, `schema`, `version`, `history`, `exists`, `masked_columns`)
remember an allowed visibility decision as the data calls remember an allowed check
(`Access.see_table`): one decision by the metastore's rule per principal and table while the
governance state stands; a denial is decided and audited again at every call; a grant or
revoke (the state's next version) takes effect at the next call. The decisions are counted on
the real metastore of the process's `Access`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import access
from lakehouse_ml.governance import Metastore, PermissionDenied
from tests.governance.audit_support import records
from tests.governance.conftest import read_path

TABLE = "silver.customers"
CALLS: dict[str, Callable[[Catalog], Any]] = {
    "describe": lambda c: c.describe(TABLE), "schema": lambda c: c.schema(TABLE),
    "version": lambda c: c.version(TABLE), "history": lambda c: c.history(TABLE),
    "exists": lambda c: c.exists(TABLE), "masked_columns": lambda c: c.masked_columns(TABLE)}


@pytest.fixture
def decisions(metastore: Metastore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The principals whose visibility of a table the metastore decided, in order (the real
    `Metastore.describe` of the process's `Access`, counted)."""
    decided: list[str] = []
    checks = access(metastore.root, "dev").metastore
    real = checks.describe

    def counted(name: str, **options: Any) -> Any:
        decided.append(options.get("as_principal") or "")
        return real(name, **options)

    monkeypatch.setattr(checks, "describe", counted)
    return decided


def test_an_allowed_visibility_decision_is_made_once(metastore: Metastore,
                                                     decisions: list[str]) -> None:
    read_path(metastore, "ann")
    ann = Catalog(metastore.root, "dev", principal="ann")
    for _ in range(3):
        for name, call in CALLS.items():
            assert call(ann) is not None, name
    assert decisions == ["ann"]
    assert ann.schema(TABLE) == pl.Schema({"id": pl.Int64, "email": pl.String,
                                           "tenant_id": pl.String})


def test_a_denial_is_decided_and_audited_at_every_call(metastore: Metastore,
                                                       decisions: list[str]) -> None:
    bob = Catalog(metastore.root, "dev", principal="bob")
    before = records(metastore).height
    for call in CALLS.values():
        with pytest.raises(PermissionDenied, match="'bob' does not have BROWSE"):
            call(bob)
    assert decisions == ["bob"] * len(CALLS)
    denied = records(metastore).slice(before)
    assert denied["status"].to_list() == [403] * len(CALLS)


def test_a_revoke_and_a_grant_take_effect_at_the_next_call(metastore: Metastore,
                                                           decisions: list[str]) -> None:
    """As for a remembered data check: the state's next version drops what was remembered,
    whichever process committed it (here another `Metastore` on the same files)."""
    read_path(metastore, "ann")
    ann = Catalog(metastore.root, "dev", principal="ann")
    assert ann.exists(TABLE) and ann.version(TABLE) == 0
    metastore.revoke(["SELECT"], "TABLE", TABLE, "ann")
    for call in CALLS.values():
        with pytest.raises(PermissionDenied, match="'ann' does not have BROWSE"):
            call(ann)
    Metastore(metastore.root, "dev").grant(["BROWSE"], "CATALOG", "dev", "ann")
    for call in CALLS.values():
        call(ann)
    assert decisions == ["ann"] * (1 + len(CALLS) + 1)
