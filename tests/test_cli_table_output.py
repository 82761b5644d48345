"""`lakehouse-ml read` and `audit show` print through `polars.Config`, which sets environment
variables (`setenv` is not thread-safe); the audit and lineage writer threads, which commit to
Delta and read the environment, are closed before it, with every record written."""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.cli import app
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_LOG

ENV = "dev"
WRITERS = {"audit log", "lineage log"}


def test_read_prints_after_the_writer_threads_wrote_and_ended(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    catalog = Catalog(root, ENV)
    catalog.create_table("silver.people", pl.Schema({"customer_id": pl.Int64}),
                         TableInfo(owner="team:data"))
    catalog.overwrite("silver.people", pl.DataFrame({"customer_id": [41, 42]}))
    Metastore(root, ENV)  # governed: the local user is its admin
    env = {"LAKEHOUSE_ROOT": root, "LAKEHOUSE_ENV": ENV}

    result = CliRunner(env=env).invoke(app, ["read", "silver.people"])

    assert result.exit_code == 0, result.output
    assert "42" in result.output
    assert not [t.name for t in threading.enumerate() if t.name in WRITERS and t.is_alive()]
    reads = Catalog(root, ENV, governed=False).read(AUDIT_LOG).filter(
        pl.col("request_params").list.eval(pl.element().struct.field("value")).list.contains(
            "scan"))
    assert reads.height >= 1  # the read's own record was written before the table printed
