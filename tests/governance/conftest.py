"""A lakehouse with two registered tables and a declared cast of principals."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance import GROUP, SERVICE_PRINCIPAL, Metastore
from lakehouse_ml.governance.principals import local_user

SCHEMA = pl.Schema({"id": pl.Int64, "email": pl.String, "tenant_id": pl.String})


@pytest.fixture
def root(tmp_path: Path) -> str:
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    for name in ("silver.customers", "silver.events"):
        catalog.create_table(name, SCHEMA, TableInfo(owner="data-eng",
                                                     column_tags={"email": ["pii"]}))
    return catalog.root


@pytest.fixture
def metastore(root: str) -> Metastore:
    """Admin is the local user; users ann, bob; service principal etl; groups analysts ⊂
    readers; data-eng owns the tables (from their registry documents)."""
    m = Metastore(root, "dev")
    for user in ("ann", "bob"):
        m.add_principal(user)
    m.add_principal("etl", SERVICE_PRINCIPAL)
    for group in ("analysts", "readers", "data-eng"):
        m.add_principal(group, GROUP)
    m.add_member("analysts", "ann")
    m.add_member("readers", "analysts")
    assert local_user() in m.store.read()["admins"]
    return m


def read_path(m: Metastore, grantee: str) -> None:
    """Grant what reading dev.silver.customers needs (USE CATALOG, USE SCHEMA, SELECT)."""
    m.grant(["USE CATALOG"], "CATALOG", "dev", grantee)
    m.grant(["USE SCHEMA"], "SCHEMA", "silver", grantee)
    m.grant(["SELECT"], "TABLE", "silver.customers", grantee)
