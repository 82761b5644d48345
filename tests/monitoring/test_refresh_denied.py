"""A monitor refresh by a principal who may not write its metric tables is refused before it
reads or computes anything (the denial names principal, privilege and table, and is audited),
and leaves the metric tables as they were."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.monitoring.refresh import refresh
from tests.monitoring.test_refresh import MONITOR, day_rows, lakehouse, tables


def test_a_refresh_without_modify_is_denied_before_it_reads_the_monitored_table(
        tmp_path: Path) -> None:
    owner = lakehouse(tmp_path)
    owner.append("gold.activity", day_rows(1))
    refresh(owner, MONITOR)
    owner.append("gold.activity", day_rows(2))
    before = tables(owner)
    metastore = Metastore(str(tmp_path), "dev")
    metastore.add_principal("carol")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "carol")
    for schema in ("gold", "monitoring"):
        metastore.grant(["USE SCHEMA", "SELECT"], "SCHEMA", schema, "carol")
    carol = Catalog(str(tmp_path), "dev", principal="carol")

    with pytest.raises(PermissionDenied) as denied:
        refresh(carol, MONITOR)

    assert (denied.value.principal, denied.value.privilege, denied.value.securable) == (
        "carol", "MODIFY", f"TABLE dev.{MONITOR.profile_metrics_table}")
    audit_log(str(tmp_path), "dev").flush()
    records = Catalog(str(tmp_path), "dev", governed=False).read(AUDIT).filter(
        pl.col("user_identity").struct.field("email") == "carol")
    status = records["response"].struct.field("status_code").to_list()
    assert status == [403], records  # the denial, and no read of gold.activity before it
    for a, b in zip(tables(owner), before, strict=True):
        assert a.equals(b)
    metastore.grant(["MODIFY"], "SCHEMA", "monitoring", "carol")
    assert refresh(carol, MONITOR).windows  # with the grant the same refresh runs
