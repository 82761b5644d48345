"""`Catalog.create_table(..., properties=...)` of an existing table lacking them (a silver
table created before `delta.targetFileSize` was declared) sets them: a change of the table, so
it needs MODIFY as other metadata does; denied, nothing is committed. Real Delta tables, the
real metastore and audit log."""

from __future__ import annotations

import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance import Metastore, PermissionDenied
from tests.governance.audit_support import records
from tests.governance.conftest import SCHEMA

EXISTING = "dev.silver.customers"
INFO = TableInfo(owner="data-eng", column_tags={"email": ["pii"]})
"""As the fixture declared it: only the properties differ."""
BOUNDED = {"delta.targetFileSize": "4194304"}


def _properties(catalog: Catalog) -> dict[str, str]:
    return catalog.lake.table(catalog.location(EXISTING)).metadata().configuration


def test_missing_properties_need_modify_and_are_set_once(metastore: Metastore) -> None:
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA", "CREATE TABLE"], "SCHEMA", "silver", "ann")
    ann = Catalog(metastore.root, "dev", principal="ann")
    lake = Catalog(metastore.root, "dev", governed=False)  # looks without a record
    version = lake.version(EXISTING)

    with pytest.raises(PermissionDenied, match="'ann' does not have MODIFY on TABLE "):
        ann.create_table(EXISTING, SCHEMA, INFO, properties=BOUNDED)
    assert lake.version(EXISTING) == version and "delta.targetFileSize" not in _properties(lake)

    metastore.grant(["MODIFY"], "SCHEMA", "silver", "ann")
    before = records(metastore).height
    ann.create_table(EXISTING, SCHEMA, INFO, properties=BOUNDED)
    assert lake.version(EXISTING) == version + 1
    assert _properties(lake)["delta.targetFileSize"] == "4194304"
    assert records(metastore).height > before  # the MODIFY is audited

    before = records(metastore).height
    ann.create_table(EXISTING, SCHEMA, INFO, properties=BOUNDED)  # already held: a no-op
    assert lake.version(EXISTING) == version + 1 and records(metastore).height == before
