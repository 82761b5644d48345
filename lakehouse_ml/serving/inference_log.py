"""`<schema>.inference_log`: one row per scored request, request and response included.

One row per request (not per predicted row), as Databricks inference tables do: the request and
response bodies are kept verbatim, `rows` counts the rows scored and `model_versions` says which
version scored each of them, so N requests leave exactly N rows and per-row analysis unnests
the lists. Requests refused before reaching an endpoint (401, 404) are not logged: their bodies
come from unknown callers.

Writes are buffered: `record` appends to memory, a background thread appends to Delta every
`flush_rows` rows or `flush_seconds`, and `close` (at server shutdown) writes what is left. A
failed write keeps its rows for the next attempt. Only a killed process loses the unflushed rows.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from functools import partial
from typing import Any

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo

log = logging.getLogger(__name__)

_UTC = pl.Datetime("us", "UTC")
SCHEMA = pl.Schema({
    "request_id": pl.String, "endpoint": pl.String, "requested_at": _UTC,
    "status_code": pl.Int32, "latency_ms": pl.Float64, "caller": pl.String, "rows": pl.Int64,
    "as_of": _UTC, "model_versions": pl.List(pl.Int64), "request": pl.String,
    "response": pl.String,
})


def table_name(schema: str) -> str:
    return f"{schema}.inference_log"


class InferenceLog:
    def __init__(
        self, catalog: Catalog, table: str, owner: str, flush_rows: int, flush_seconds: float
    ) -> None:
        self.table = table
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        catalog.create_table(table, SCHEMA, TableInfo(
            owner=owner, tags={"layer": "ml"},
            comment="Every request to the serving endpoints of this schema: caller, status, "
            "latency, the model version per scored row, and the request and response bodies.",
        ))
        self._append = catalog.appender(table)
        self._rows: list[dict[str, Any]] = []
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"log:{table}", daemon=True)
        self._thread.start()

    def record(
        self, *, request_id: str, endpoint: str, requested_at: datetime, status_code: int,
        latency_ms: float, caller: str, rows: int, as_of: datetime | None,
        model_versions: list[int] | None, request: str, response: str,
    ) -> None:
        row = {"request_id": request_id, "endpoint": endpoint, "requested_at": requested_at,
               "status_code": status_code, "latency_ms": latency_ms, "caller": caller,
               "rows": rows, "as_of": as_of, "model_versions": model_versions,
               "request": request, "response": response}
        with self._wake:
            self._rows.append(row)
            if len(self._rows) >= self.flush_rows:
                self._wake.notify()

    def _take(self) -> list[dict[str, Any]]:
        with self._wake:
            rows, self._rows = self._rows, []
        return rows

    def flush(self) -> bool:
        """Append the buffered rows; on failure they go back to the buffer (returns False)."""
        rows = self._take()
        if not rows:
            return True
        try:
            self._append(pl.DataFrame(rows, schema=SCHEMA))
        except Exception:
            with self._wake:
                self._rows[:0] = rows
            log.exception("could not write %d rows to %s; will retry", len(rows), self.table)
            return False
        return True

    def _due(self, after_failure: bool) -> bool:
        """Time to write before the interval ends? Not right after a failed write."""
        return self._closing or (not after_failure and len(self._rows) >= self.flush_rows)

    def _run(self) -> None:
        failed = False
        while True:
            with self._wake:
                self._wake.wait_for(partial(self._due, failed), timeout=self.flush_seconds)
                if self._closing:
                    return
            failed = not self.flush()

    def close(self) -> None:
        """Stop the flusher and write everything still buffered."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        self.flush()
