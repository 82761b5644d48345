"""Shared by the audit tests: a writer on a tmp lakehouse and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
from typer.testing import CliRunner, Result

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli.app import app
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit import AuditLog, audit_log
from lakehouse_ml.governance.audit_chain import TABLE

runner = CliRunner()


@contextmanager
def writer(catalog: Catalog, **options: float) -> Iterator[AuditLog]:
    log = AuditLog(catalog, **{"flush_seconds": 60.0, **options})
    try:
        yield log
    finally:
        log.close()


def write(catalog: Catalog, n: int, **fields: str) -> None:
    """`n` records (user `u<i>`, action `getTable`, on `dev.silver.t<i>`), written."""
    with writer(catalog) as log:
        for i in range(n):
            log.record(user=fields.get("user", f"u{i}"), service="unityCatalog",
                       action=fields.get("action", "getTable"),
                       params={"securable": fields.get("securable", f"dev.silver.t{i}")})


def rows(catalog: Catalog) -> pl.DataFrame:
    return catalog.read(TABLE).sort("sequence")


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args), prog_name="lakehouse-ml")


def records(m: Metastore) -> pl.DataFrame:
    """The `unityCatalog` records of `m`'s audit log, flushed first, in order: user, action,
    status, error, params."""
    audit_log(m.root, m.env).flush()
    frame = Catalog(m.root, m.env).read(TABLE).sort("sequence")
    return frame.filter(pl.col("service_name") == "unityCatalog").select(
        user=pl.col("user_identity").struct.field("email"), action="action_name",
        status=pl.col("response").struct.field("status_code"),
        error=pl.col("response").struct.field("error_message"),
        params=pl.col("request_params"))


def params(row: dict) -> dict[str, str]:
    """A `records` row's request params as a mapping."""
    return {p["key"]: p["value"] for p in row["params"]}
