"""`governance.audit_log`: one hash-chained record per governed action, allowed or denied.

`record` only appends a tuple to memory (~5 µs of the caller's CPU); a background thread
redacts, hash-chains and writes the buffer as one Delta commit every `flush_rows` records or
`flush_seconds`, `flush()` writes it now, and at exit what is left is written (from threading's
exit hook, which runs before the interpreter stops the thread pools polars reads with). Params
as given (a secret in them included) stay in memory only until the next flush attempt; from
then on a record is held redacted, also while a failed write waits to be retried, and nothing
reaches disk unredacted: a process killed before its flush loses its last records (at most
`flush_seconds` of them), never leaks them. Params are redacted when written, never
stored as given: a secret's name keeps `[redacted]`, credentials inside values are scrubbed
(see `lakehouse_ml.serving.redact`), and every name, value and error message is capped at
`MAX_VALUE` characters (a longer one keeps a prefix, its length and sha256).

One chain across every writer of the lakehouse (CLI processes, the pipeline, serving): a
flush takes an exclusive `fcntl` lock on `<root>/<env>/_governance/audit.lock`, reads the
chain head checkpoint (`audit_head.json`: last sequence, hash and the table version it was
written at), numbers and hashes its records after it, appends them in one commit and moves
the checkpoint. If the table's version is not the checkpoint's (a crash between commit and
checkpoint), the head is first read from the table itself (whether it is, one `stat` of
the commit file after the checkpoint's version tells). A writer whose commit lands at a
version other than the one it expected knows another writer bypassed the lock and says so in
the log. On an object store (no `fcntl`) the lock does not exist: a single writing process
per lakehouse is assumed, and a fork caused by two is detected by `verify`, not prevented.

A write that fails keeps its records for the next attempt; past `max_buffered` records, new
ones are dropped and counted, and the next successful write first appends an
`auditRecordsDropped` record with that count, so a loss is itself on the record.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
from pyarrow import fs as pafs

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.catalog.flusher import BackgroundFlusher, ProcessWriters
from lakehouse_ml.governance.audit_chain import HEAD_FILE, LOCK_FILE, SCHEMA, TABLE, Head, chain
from lakehouse_ml.serving.redact import Redactor

log = logging.getLogger(__name__)

MAX_VALUE = 1024
"""Characters kept of a param's name or value."""
OWNER = "lakehouse-governance"
_REDACTOR = Redactor((), MAX_VALUE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK = 8
"""Records prepared between two releases of the GIL while flushing: a request thread that
calls `record` meanwhile waits for at most one chunk, not for the whole batch."""


class AuditLog(BackgroundFlusher):
    _label = "audit log"

    def __init__(self, catalog: Catalog, *, flush_rows: int = 1000, flush_seconds: float = 1.0,
                 max_buffered: int = 100_000) -> None:
        self.catalog = catalog
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.max_buffered = max_buffered
        self.dropped = 0
        """Records dropped because the buffer was full and not yet recorded as dropped."""
        self._pending: list[tuple[Any, ...]] = []
        self._retry: list[dict[str, Any]] = []
        """Records a write failed on, redacted: for the next attempt."""
        self._writing = 0
        self._wake = threading.Condition()
        self._write_lock = threading.Lock()
        self._closing = False
        self._append: Any = None
        base = f"{catalog.root}/{catalog.env}"
        self._fs, path = pafs.FileSystem.from_uri(base)
        self._head_path = f"{path}/{HEAD_FILE}"
        self._lock_path = (f"{path}/{LOCK_FILE}"
                           if isinstance(self._fs, pafs.LocalFileSystem) else None)
        if self._lock_path is None:
            log.warning("audit log on %s: no lock on an object store, write the audit log "
                        "from one process only (`audit verify` detects a fork)", base)
        self._start()

    def record(self, *, user: str, service: str, action: str,
               params: Mapping[str, str] | None = None, status_code: int = 200,
               error: str | None = None, source: str = "cli",
               run_id: str | None = None) -> str:
        """Buffer one record; returns its `request_id` (32 hex digits). Never raises for a
        full buffer or an unwritable table: the record is then counted in `dropped`."""
        request_id = os.urandom(16).hex()
        row = (time.time_ns() // 1000, user, service, action, request_id,
               dict(params) if params else None, status_code, error, source, run_id)
        with self._wake:
            if len(self._pending) + len(self._retry) + self._writing >= self.max_buffered:
                if not self.dropped:
                    log.error("audit log: buffer full (%d records): dropping and counting",
                              self.max_buffered)
                self.dropped += 1
                return request_id
            self._pending.append(row)
            if len(self._pending) >= self.flush_rows:
                self._wake.notify()
        return request_id

    def flush(self) -> None:
        """Write every buffered record now; raises what the write raised (the records stay
        buffered, redacted, for the next attempt)."""
        with self._write_lock:
            with self._wake:
                rows, self._pending = self._pending, []
                retry, self._retry = self._retry, []
                self._writing = len(rows) + len(retry)
                dropped = self.dropped
            records = retry + self._prepared(rows)
            del rows  # the params as given (secrets included) are no longer held
            if not records and not dropped:
                return
            try:
                self._commit([self._dropped_record(dropped), *records] if dropped else records)
            except BaseException:
                with self._wake:
                    self._retry = records
                    self._writing = 0
                raise
            with self._wake:
                self._writing = 0
                self.dropped -= dropped

    def _prepared(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """`rows` as records (params redacted and capped), releasing the GIL every
        `_CHUNK`."""
        records = []
        for start in range(0, len(rows), _CHUNK):
            records += [self._row(r) for r in rows[start:start + _CHUNK]]
            time.sleep(0)  # let a thread calling `record` have the GIL
        return records

    def _buffered(self) -> int:
        return len(self._pending)

    def _unwritten(self) -> int:
        return len(self._pending) + len(self._retry) + self.dropped

    def _params(self, params: dict[str, str] | None) -> list[dict[str, str]]:
        out = []
        for key, value in (params or {}).items():
            key, value = str(key), str(value)
            name, stored = _REDACTOR.field(key, value)
            out.append({"key": _cap(name, key), "value": _cap(stored, value)})
        return out

    def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        micros, user, service, action, request_id, params, status, error, source, run_id = row
        at = _EPOCH + timedelta(microseconds=micros)
        return {
            "event_time": at, "event_date": at.date(), "workspace_id": self.catalog.env,
            "user_identity": {"email": user}, "service_name": service, "action_name": action,
            "request_id": request_id, "request_params": self._params(params),
            "response": {"status_code": status,
                         "error_message": None if error is None else _cap(
                             _REDACTOR.field("error_message", error)[1], error),
                         "result": None},
            "source": source, "run_id": run_id,
        }

    def _dropped_record(self, count: int) -> dict[str, Any]:
        row = (time.time_ns() // 1000, OWNER, "governance", "auditRecordsDropped",
               uuid.uuid4().hex, {"count": str(count)}, 500,
               f"{count} audit records were dropped: the buffer was full", "audit", None)
        return self._row(row)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_path is None:
            yield
            return
        Path(self._lock_path).parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _commit(self, records: list[dict[str, Any]]) -> None:
        with self._locked():
            if self._append is None:
                self.catalog.create_table(TABLE, SCHEMA, TableInfo(
                    owner=OWNER, tags={"layer": "governance"},
                    comment="Every governed action, allowed or denied, hash-chained across "
                    "all writers (after system.access.audit); verify with "
                    "`lakehouse-ml audit verify`."))
                self._append = self.catalog.appender(TABLE)
            head, at = self._head()
            if at < 0 or self._committed_after(at):  # no checkpoint yet, a crash before it
                head = self._table_head()             # moved, a writer without the lock
            for start in range(0, len(records), _CHUNK):
                head = chain(records[start:start + _CHUNK], head)
                time.sleep(0)
            written = self._append(_frame(records))
            if at >= 0 and written != at + 1:
                log.error("audit log: commit landed at version %d, expected %d: another "
                          "writer bypassed %s (the chain may fork; run `audit verify`)",
                          written, at + 1, self._lock_path)
            self._write_head(head, written)

    def _head(self) -> tuple[Head, int]:
        """The checkpoint and the table version it was written at (`-1` if none, or if it
        cannot be read: the head is then read from the table and the checkpoint rewritten)."""
        try:
            return _checkpoint(self._fs, self._head_path) or (Head(), -1)
        except ValueError:
            log.exception("audit log: rebuilding the head checkpoint from the table")
            return Head(), -1

    def _committed_after(self, version: int) -> bool:
        """Does the table have a commit after `version`? One stat of its next commit file,
        where opening the table would replay its log."""
        fs, table = pafs.FileSystem.from_uri(self.catalog.location(TABLE))
        info = fs.get_file_info(f"{table}/_delta_log/{version + 1:020d}.json")
        return info.type != pafs.FileType.NotFound

    def _table_head(self) -> Head:
        last = (self.catalog.scan(TABLE).select("sequence", "hash")
                .sort("sequence").tail(1).collect())
        return Head(*last.row(0)) if last.height else Head()

    def _write_head(self, head: Head, version: int) -> None:
        self._fs.create_dir(self._head_path.rsplit("/", 1)[0], recursive=True)
        staging = f"{self._head_path}.{uuid.uuid4().hex}.tmp"
        with self._fs.open_output_stream(staging) as out:
            out.write(json.dumps({"sequence": head.sequence, "hash": head.hash,
                                  "version": version}).encode())
        self._fs.move(staging, self._head_path)


def _cap(text: str, original: str) -> str:
    """`text` (`original` as redacted), or its first `MAX_VALUE` characters with the
    original's length and sha256 if longer, as serving's bodies."""
    if len(text) <= MAX_VALUE:
        return text
    return _REDACTOR.cap(text, original.encode("utf-8", "surrogatepass"))


def _frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    """`records` as a frame of `SCHEMA`, column by column through Arrow (a third of the
    cost of `pl.DataFrame(records)`)."""
    columns = {name: [r[name] for r in records] for name in SCHEMA.names()}
    return pl.from_arrow(pa.Table.from_pydict(columns, schema=_arrow()))  # type: ignore[return-value]


@functools.cache
def _arrow() -> pa.Schema:
    """`SCHEMA` in Arrow, made on first use: polars computing it at import would start its
    thread pool in every process that imports this module (a process forked after that
    cannot use polars)."""
    return pl.DataFrame(schema=SCHEMA).to_arrow().schema


def _checkpoint(fs: pafs.FileSystem, path: str) -> tuple[Head, int] | None:
    """(head, table version) of the checkpoint at `path`, None if there is none; ValueError
    naming the file if it is not one."""
    try:
        with fs.open_input_stream(path) as stream:
            doc = json.loads(stream.read(4096))
        head = Head(int(doc["sequence"]), str(doc["hash"]))
        return head, int(doc["version"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"audit head checkpoint {path} is unreadable: {error!r}") from None


def read_head(catalog: Catalog) -> Head | None:
    """The chain head checkpoint of the lakehouse, None if no record was ever written;
    ValueError if the checkpoint is not one."""
    fs, path = pafs.FileSystem.from_uri(f"{catalog.root}/{catalog.env}")
    found = _checkpoint(fs, f"{path}/{HEAD_FILE}")
    return found and found[0]


_WRITERS = ProcessWriters(lambda root, env: AuditLog(Catalog(root, env, governed=False)))
"""Its own writes are not audited (an ungoverned catalog)."""


def audit_log(root: str, env: str) -> AuditLog:
    """The audit writer of the lakehouse at `root`, environment `env` (one per process)."""
    return _WRITERS.get(root, env)


def close_audit_logs() -> None:
    """Close every audit writer of this process (see `ProcessWriters.close_all`)."""
    _WRITERS.close_all()
