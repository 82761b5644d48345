"""`<schema>.inference_log`: one row per request that reached an endpoint, refusals included.

One row per request (not per predicted row), as Databricks inference tables do: `rows` counts
the rows scored, `model_versions` says which version scored each of them and `unmatched_rows`
which of them had a feature lookup that found no row, so N requests leave exactly N rows and
per-row analysis unnests the lists. 401s are recorded too (caller null, body not read: it
comes from an unknown caller); so are 4xx refusals, with what was kept of their body.

Bodies are stored as `redact.Redactor` keeps them: secrets dropped, `pii`-tagged columns
hashed, above a size cap a prefix plus the sha256 of the whole.

Writes are buffered: `record` appends to memory, a background thread (`BackgroundFlusher`)
appends to Delta every `flush_rows` rows or `flush_seconds`, and `close` (at server shutdown,
else at interpreter exit) writes what is left. A failed write keeps its rows for the next
attempt (`flush` returns False; the next try backs off), up to `buffer_bytes` of buffered
bodies: beyond that new rows are shed and counted (`shed`, reported on /health), so a table
that cannot be written never exhausts the worker's memory. A killed process (SIGKILL) loses
what is buffered: at most `flush_rows` rows or `flush_seconds` of requests while writes
succeed, at most `buffer_bytes` while they fail.

Lineage: each write names the model versions its rows were scored by (`models`: endpoint →
registered model) as sources of the inference log's new version, once per version per write.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.catalog.flusher import BackgroundFlusher

log = logging.getLogger(__name__)

_UTC = pl.Datetime("us", "UTC")
SCHEMA = pl.Schema({
    "request_id": pl.String, "endpoint": pl.String, "requested_at": _UTC,
    "status_code": pl.Int32, "latency_ms": pl.Float64, "caller": pl.String, "rows": pl.Int64,
    "as_of": _UTC, "model_versions": pl.List(pl.Int64), "request": pl.String,
    "response": pl.String, "unmatched_rows": pl.List(pl.Int64),
})
_ROW_BYTES = 256
"""What a row costs beyond its bodies, counted against the buffer."""


def table_name(schema: str) -> str:
    return f"{schema}.inference_log"


class InferenceLog(BackgroundFlusher):
    def __init__(
        self, catalog: Catalog, table: str, owner: str, flush_rows: int, flush_seconds: float,
        buffer_bytes: int, models: Mapping[str, str] | None = None,
    ) -> None:
        """`models`: endpoint → the registered model (`catalog.schema.model`) it serves."""
        self.table, self._label = table, f"log:{table}"
        self._catalog, self._models = catalog, dict(models or {})
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.buffer_bytes = buffer_bytes
        catalog.create_table(table, SCHEMA, TableInfo(
            owner=owner, tags={"layer": "ml"},
            comment="Every request to the serving endpoints of this schema: caller, status, "
            "latency, the model version per scored row, the rows no feature row was found "
            "for, and the request and response bodies (secrets dropped, PII hashed, capped).",
        ))
        if set(SCHEMA) - set(catalog.schema(table)):  # a table from before a column was added
            catalog.append(table, pl.DataFrame(schema=SCHEMA), evolve=True)
        self._append = catalog.appender(table)
        self._rows: list[dict[str, Any]] = []
        self._bytes = 0
        """Bytes of the rows buffered or being written."""
        self._writing = 0
        """Rows being written."""
        self.shed = 0
        """Rows dropped because the buffer was full (the table could not be written)."""
        self._wake = threading.Condition()
        self._closing = False
        self._start()

    def record(
        self, *, request_id: str, endpoint: str, requested_at: datetime, status_code: int,
        latency_ms: float, caller: str | None, rows: int, as_of: datetime | None,
        model_versions: list[int] | None, request: str | None, response: str,
        unmatched_rows: list[int] | None,
    ) -> None:
        """Buffer one row (`request` and `response` as they are to be stored); shed it if the
        buffer holds `buffer_bytes` already."""
        row = {"request_id": request_id, "endpoint": endpoint, "requested_at": requested_at,
               "status_code": status_code, "latency_ms": latency_ms, "caller": caller,
               "rows": rows, "as_of": as_of, "model_versions": model_versions,
               "request": request, "response": response, "unmatched_rows": unmatched_rows}
        size = _size(row)
        with self._wake:
            if self._bytes + size > self.buffer_bytes:
                if not self.shed:
                    log.error("%s: buffer full (%d bytes): shedding rows until it is written",
                              self.table, self._bytes)
                self.shed += 1
                return
            self._rows.append(row)
            self._bytes += size
            if len(self._rows) >= self.flush_rows:
                self._wake.notify()

    def describe(self) -> dict[str, object]:
        with self._wake:
            return {"table": self.table, "buffered_rows": len(self._rows) + self._writing,
                    "buffered_bytes": self._bytes, "shed_rows": self.shed}

    def flush(self) -> bool:
        """Append the buffered rows; on failure they go back to the buffer (returns False).
        Rows being written still count against the buffer until they are written."""
        with self._wake:
            rows, self._rows, self._writing = self._rows, [], len(self._rows)
        if not rows:
            return True
        try:
            self._record_models(rows)
            self._append(pl.DataFrame(rows, schema=SCHEMA))
        except Exception:
            with self._wake:
                self._rows[:0] = rows
                self._writing = 0
            log.exception("could not write %d rows to %s; will retry", len(rows), self.table)
            return False
        with self._wake:
            self._bytes -= sum(_size(r) for r in rows)
            self._writing = 0
        return True

    def _record_models(self, rows: list[dict[str, Any]]) -> None:
        """Lineage: the model versions that scored `rows` are sources of the next write."""
        used = {(self._models[r["endpoint"]], version) for r in rows
                if r["endpoint"] in self._models for version in set(r["model_versions"] or ())}
        for model, version in sorted(used):
            self._catalog.record_model_read(model, version)

    def _buffered(self) -> int:
        return len(self._rows)

    def _write_buffer(self) -> bool:
        return self.flush()


def _size(row: dict[str, Any]) -> int:
    return _ROW_BYTES + len(row["request"] or "") + len(row["response"]) + 8 * (
        len(row["model_versions"] or ()) + len(row["unmatched_rows"] or ()))
