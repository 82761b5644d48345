"""`governance.table_lineage` and `governance.column_lineage`: what each run really read and
wrote, recorded by the catalog as it happens (after Databricks' `system.access.table_lineage`
and `system.access.column_lineage`).

A run is the entity a governed call belongs to (`current_entity`): inside a Dagster step, the
Dagster run (`entity_type` JOB, `entity_id` the job, `entity_run_id` the run id); elsewhere
the process (`entity_type` CLI, `entity_id` the command, `entity_run_id` one id per process).
Reads are remembered per scope (a Dagster step, or the process): each source read for the
first time in its scope (at a version) leaves one row without a target; each write leaves one
row per source its scope read before it (source at the version read → target at the version
written), or one row without a source if it read none. Sources are tables (`TABLE`), landed
files (`PATH`, their manifest path; see `Catalog.record_path_reads`) and registered model
versions (`MODEL`, the version in `*_table_version`); targets are tables and model versions.
Column rows come from the declarations (`lineage_columns.declared_columns`): a written column
declared to come from a column of a table this scope read.

`record` only appends to memory; a background thread appends the buffer to both tables every
`flush_seconds` or `flush_rows` rows (`BackgroundFlusher`), `flush()` writes now, and what is
left is written at exit. The writer is the lakehouse's own bookkeeping (an ungoverned
catalog), as the audit log's.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from lakehouse_ml.catalog.flusher import BackgroundFlusher, ProcessWriters
from lakehouse_ml.catalog.registry import TableInfo

log = logging.getLogger(__name__)

TABLE_LINEAGE = "governance.table_lineage"
COLUMN_LINEAGE = "governance.column_lineage"
LINEAGE_TABLES = (TABLE_LINEAGE, COLUMN_LINEAGE)
TABLE, PATH, MODEL = "TABLE", "PATH", "MODEL"
"""Source and target types: Databricks' TABLE and PATH, and MODEL for a registered model
version (Unity Catalog's lineage graph shows models; its system tables have no type for them)."""
JOB, CLI = "JOB", "CLI"
"""Entity types: a Dagster run (Databricks' JOB), a command-line or other process."""
OWNER = "lakehouse-governance"
MAX_SCOPES = 256
"""Scopes whose reads are remembered at once; the oldest is forgotten first."""

_UTC = pl.Datetime("us", "UTC")


def _side(side: str, column: bool) -> dict[str, pl.DataType]:
    fields: dict[str, pl.DataType] = {
        f"{side}_table_full_name": pl.String(), f"{side}_table_catalog": pl.String(),
        f"{side}_table_schema": pl.String(), f"{side}_table_name": pl.String(),
        f"{side}_path": pl.String(), f"{side}_type": pl.String(),
        f"{side}_table_version": pl.Int64(),
    }
    if column:
        fields[f"{side}_column_name"] = pl.String()
    return fields


def _schema(column: bool) -> pl.Schema:
    return pl.Schema({
        "workspace_id": pl.String, "entity_type": pl.String, "entity_id": pl.String,
        "entity_run_id": pl.String, **_side("source", column), **_side("target", column),
        "created_by": pl.String, "event_time": _UTC, "event_date": pl.Date,
        "record_id": pl.String,
    })


TABLE_SCHEMA = _schema(column=False)
"""`governance.table_lineage`: Databricks' columns (`workspace_id` is the environment; no
account or metastore id, `statement_id`, `event_id`), plus `source_table_version` and
`target_table_version` (the Delta version read and written; a model's version; null for a
file). `*_table_full_name` is `catalog.schema.table` (or `.model`), null for a file, whose
manifest path is `*_path` (a table's `*_path` is its storage location)."""
COLUMN_SCHEMA = _schema(column=True)
"""`governance.column_lineage`: as `TABLE_SCHEMA` plus `source_column_name` and
`target_column_name`."""


@dataclass(frozen=True)
class Entity:
    """What a governed call runs in: `type` JOB or CLI, `id` the job or command, `run_id` the
    Dagster run id (or the process's id), `scope` the step (reads are remembered per scope)."""

    type: str
    id: str
    run_id: str
    scope: str


def _command() -> str:
    args = [os.path.basename(sys.argv[0]) if sys.argv else "python",
            *(a for a in sys.argv[1:2] if not a.startswith("-"))]
    return " ".join(args)[:256]


_PROCESS = Entity(CLI, _command(), uuid.uuid4().hex, "")


def current_entity() -> Entity:
    """The Dagster run and step executing now (an asset or asset check), else the process."""
    if "dagster" in sys.modules:
        import dagster as dg

        for kind in (dg.AssetExecutionContext, dg.AssetCheckExecutionContext):
            try:
                op = kind.get().op_execution_context
            except dg.DagsterInvariantViolationError:
                continue
            return Entity(JOB, op.job_name, op.run_id,
                          f"{op.run_id}/{op.get_step_execution_context().step.key}")
    return _PROCESS


@dataclass(frozen=True)
class Node:
    """One side of a lineage row: `type` TABLE/PATH/MODEL, `name` the full name (None for a
    file), `path` (a file's manifest path, a table's location), `version` (None: unknown)."""

    type: str
    name: str | None
    path: str | None = None
    version: int | None = None

    def fields(self, side: str) -> dict[str, Any]:
        parts = self.name.split(".") if self.name else [None, None, None]
        return {f"{side}_table_full_name": self.name, f"{side}_table_catalog": parts[0],
                f"{side}_table_schema": parts[1], f"{side}_table_name": parts[2],
                f"{side}_path": self.path, f"{side}_type": self.type,
                f"{side}_table_version": self.version}


_NO_NODE = Node(None, None)  # type: ignore[arg-type]


class LineageLog(BackgroundFlusher):
    """The lineage writer of one lakehouse (`catalog`: ungoverned, at its root and env)."""

    _label = "lineage log"

    def __init__(self, catalog: Any, *, flush_rows: int = 1000, flush_seconds: float = 1.0,
                 max_buffered: int = 100_000) -> None:
        self.catalog = catalog
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.max_buffered = max_buffered
        self.dropped = 0
        self._reads: OrderedDict[str, dict[Node, None]] = OrderedDict()
        self._tables: list[dict[str, Any]] = []
        self._columns: list[dict[str, Any]] = []
        self._wake = threading.Condition()
        self._write_lock = threading.Lock()
        self._closing = False
        self._created = False
        self._start()

    # recording
    def read(self, node: Node, principal: str, entity: Entity | None = None) -> None:
        """`node` was read in the current scope: one row without a target the first time."""
        entity = entity or current_entity()
        with self._wake:
            reads = self._scope(entity)
            if node in reads:
                return
            reads[node] = None
        self._add([self._row(entity, principal, node, _NO_NODE)], [])

    def wrote(self, node: Node, principal: str, columns: Sequence[str] = (),
              entity: Entity | None = None) -> None:
        """`node` was written in the current scope: a row per source read before (or one
        without a source); column rows for the written `columns` declared to come from a
        column of a table read."""
        entity = entity or current_entity()
        with self._wake:
            sources = list(self._scope(entity))
        rows = [self._row(entity, principal, s, node) for s in sources if s != node]
        if not rows:
            rows = [self._row(entity, principal, _NO_NODE, node)]
        self._add(rows, self._column_rows(entity, principal, sources, node, columns))

    def _scope(self, entity: Entity) -> dict[Node, None]:
        key = f"{entity.run_id}/{entity.scope}"
        reads = self._reads.get(key)
        if reads is None:
            reads = self._reads[key] = {}
            while len(self._reads) > MAX_SCOPES:
                self._reads.popitem(last=False)
        return reads

    def _column_rows(self, entity: Entity, principal: str, sources: list[Node], node: Node,
                     columns: Sequence[str]) -> list[dict[str, Any]]:
        if node.type != TABLE or node.name is None or not columns:
            return []
        from lakehouse_ml.governance.lineage_columns import declared_columns

        declared = declared_columns(self.catalog.env).get(node.name, {})
        read = {}
        for source in sources:
            if source.type == TABLE and source.name is not None:
                read.setdefault(source.name, []).append(source)
        rows = []
        for column in columns:
            for table, source_column in declared.get(column, ()):
                for source in read.get(table, ()):
                    row = self._row(entity, principal, source, node)
                    row["source_column_name"], row["target_column_name"] = source_column, column
                    rows.append(row)
        return rows

    def _row(self, entity: Entity, principal: str, source: Node, target: Node
             ) -> dict[str, Any]:
        micros = time.time_ns() // 1000
        at = datetime.fromtimestamp(micros / 1e6, UTC).replace(microsecond=micros % 1_000_000)
        return {"workspace_id": self.catalog.env, "entity_type": entity.type,
                "entity_id": entity.id, "entity_run_id": entity.run_id,
                **source.fields("source"), **target.fields("target"),
                "created_by": principal, "event_time": at, "event_date": at.date(),
                "record_id": uuid.uuid4().hex}

    def _add(self, tables: list[dict[str, Any]], columns: list[dict[str, Any]]) -> None:
        with self._wake:
            if len(self._tables) + len(self._columns) >= self.max_buffered:
                if not self.dropped:
                    log.error("lineage log: buffer full (%d rows): dropping and counting",
                              self.max_buffered)
                self.dropped += len(tables) + len(columns)
                return
            self._tables += tables
            self._columns += columns
            if len(self._tables) >= self.flush_rows:
                self._wake.notify()

    # writing
    def flush(self) -> None:
        """Write every buffered row now; raises what the write raised (the rows stay
        buffered for the next attempt)."""
        with self._write_lock:
            with self._wake:
                tables, columns = self._tables, self._columns
                self._tables, self._columns = [], []
            try:
                self._create()
                if tables:
                    self.catalog.append(TABLE_LINEAGE, pl.DataFrame(tables, TABLE_SCHEMA))
                    tables = []
                if columns:
                    self.catalog.append(COLUMN_LINEAGE, pl.DataFrame(columns, COLUMN_SCHEMA))
            except BaseException:
                with self._wake:
                    self._tables[:0], self._columns[:0] = tables, columns
                raise

    def _create(self) -> None:
        if self._created:
            return
        from lakehouse_ml.ingest.bronze import create_once

        for table, schema, what in ((TABLE_LINEAGE, TABLE_SCHEMA, "table"),
                                    (COLUMN_LINEAGE, COLUMN_SCHEMA, "column")):
            create_once(self.catalog, table, schema, TableInfo(
                owner=OWNER, tags={"layer": "governance"},
                comment=f"Which runs read which sources and wrote which targets, by {what}, "
                "with versions (after system.access." + f"{what}_lineage); ask with "
                "`lakehouse-ml lineage`."))
        self._created = True

    def _buffered(self) -> int:
        return len(self._tables)

    def _unwritten(self) -> int:
        return len(self._tables) + len(self._columns)


def _make(root: str, env: str) -> LineageLog:
    from lakehouse_ml.catalog import Catalog

    return LineageLog(Catalog(root, env, governed=False))


_WRITERS = ProcessWriters(_make)


def lineage_log(root: str, env: str) -> LineageLog:
    """The lineage writer of the lakehouse at `root`, environment `env` (one per process)."""
    return _WRITERS.get(root, env)


def flush_lineage(root: str, env: str) -> None:
    """Write what this process buffered for the lakehouse (before reading its lineage)."""
    found = _WRITERS.existing(root, env)
    if found is not None:
        found.flush()


def close_lineage_logs() -> None:
    """Close every lineage writer of this process (see `ProcessWriters.close_all`)."""
    _WRITERS.close_all()
