"""The tables the engine writes itself, which no domain may declare: a domain table under one
of these names would be overwritten by the engine, or overwrite it (a training set named
`pipeline.progress` replaced the pipeline's bookkeeping).

The names are imported from the modules that write the tables (one statement of each name),
so a new engine table is reserved by adding its constant here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lakehouse_ml.features.state import state_table
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_LOG
from lakehouse_ml.governance.findings import TABLE as FINDINGS
from lakehouse_ml.governance.lineage import LINEAGE_TABLES
from lakehouse_ml.medallion.moves import moves_table
from lakehouse_ml.medallion.progress import TABLE as PROGRESS
from lakehouse_ml.medallion.spec import Domain
from lakehouse_ml.ml.records import RECORD_TABLES, record_tables
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.monitoring.failed_runs import TABLE as FAILED_RUNS
from lakehouse_ml.monitoring.spec import OUTPUT_SCHEMA as MONITORING
from lakehouse_ml.serving.inference_log import table_name as inference_log
from lakehouse_ml.serving.tokens import TABLE as TOKENS

ENGINE_TABLES: tuple[str, ...] = (PROGRESS, AUDIT_LOG, FINDINGS, *LINEAGE_TABLES, FAILED_RUNS,
                                  TOKENS)
"""Every table (`schema.table`) the engine writes whatever the domains declare."""
ENGINE_SCHEMAS: frozenset[str] = frozenset(
    {MONITORING, *(table.split(".")[0] for table in ENGINE_TABLES)})
"""Schemas only the engine writes: `pipeline`, `governance`, `monitoring` (the monitors'
metric tables, named by the engine from the monitored table), `serving`."""


def derived_tables(domain: Domain, models: Iterable[ModelSpec]) -> Iterator[tuple[str, str]]:
    """(table, what) for each table the engine writes for the domain's declarations beside
    the declared ones: a source's silver moves table, a feature table's state table, a model
    schema's inference log and lifecycle records (`ml.records.record_tables`: every table
    that module writes, so a new one is reserved with it)."""
    for source in domain.sources:
        yield moves_table(source), f"the moves of source {source.name!r}"
    for table in domain.feature_tables:
        yield state_table(table.table), f"the state of feature table {table.name!r}"
    for model in models:
        yield inference_log(model.schema), f"the inference log of model {model.name!r}"
        for table, name in zip(record_tables(model.schema), RECORD_TABLES, strict=True):
            yield table, f"the {name.replace('_', ' ')} of model {model.name!r}"


def engine_owned(table: str) -> str | None:
    """Why `table` (`schema.table`, or `schema <name>` for a model schema) is the engine's, or
    None when a domain may declare it."""
    schema = table.removeprefix("schema ").split(".")[0]
    if table in ENGINE_TABLES:
        return f"{table} is a table the engine writes"
    if schema in ENGINE_SCHEMAS:
        return f"schema {schema} is the engine's ({', '.join(sorted(ENGINE_SCHEMAS))})"
    return None
