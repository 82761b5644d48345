"""Delta tables that keep the model lifecycle's history: gate results and alias changes.

Governance reads them: which model is in production, why, who put it there, and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo

_UTC = pl.Datetime("us", "UTC")
VALIDATION = pl.Schema({
    "model": pl.String, "version": pl.Int64, "run_id": pl.String, "gate": pl.String,
    "passed": pl.Boolean, "detail": pl.String, "validated_at": _UTC,
})
ALIAS_CHANGES = pl.Schema({
    "model": pl.String, "alias": pl.String, "from_version": pl.Int64, "to_version": pl.Int64,
    "actor": pl.String, "reason": pl.String, "changed_at": _UTC,
})
RECORD_TABLES = ("validation_results", "alias_changes")
"""The tables (in a model's schema) this module writes: `record_tables(schema)`."""


def record_tables(schema: str) -> tuple[str, str]:
    """`(<schema>.validation_results, <schema>.alias_changes)`: where the lifecycle of the
    models of `schema` is recorded (their pipeline writes both)."""
    validation, aliases = (f"{schema}.{name}" for name in RECORD_TABLES)
    return validation, aliases


def _append(catalog: Catalog, table: str, schema: pl.Schema, comment: str, rows: list) -> None:
    catalog.create_table(table, schema, TableInfo(owner="team:ml", comment=comment,
                                                  tags={"layer": "ml"}))
    catalog.append(table, pl.DataFrame(rows, schema=schema, orient="row"))


def record_validation(
    catalog: Catalog, schema: str, model: str, version: int, run_id: str,
    gates: Sequence[tuple[str, bool, str]],
) -> None:
    now = datetime.now(UTC)
    _append(catalog, record_tables(schema)[0], VALIDATION,
            "Every validation gate of every candidate model version.",
            [(model, version, run_id, g, p, d, now) for g, p, d in gates])


def record_alias_change(
    catalog: Catalog, schema: str, model: str, alias: str, from_version: int | None,
    to_version: int | None, actor: str, reason: str,
) -> None:
    _append(catalog, record_tables(schema)[1], ALIAS_CHANGES,
            "Every move of a model alias (champion, challenger, previous_champion).",
            [(model, alias, from_version, to_version, actor, reason, datetime.now(UTC))])
