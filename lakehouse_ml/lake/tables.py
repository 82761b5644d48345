"""The only module that talks to delta-rs: every table operation the project performs.

Writes are single Delta commits, so a crash at any point leaves the previous version readable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import (
    CommitProperties,
    DeltaTable,
    QueryBuilder,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.fs import DeltaStorageHandler
from pyarrow import fs as pafs

from lakehouse_ml.lake.predicates import identifier, same_keys
from lakehouse_ml.lake.schema import conform, storable

Version = int | datetime | None
_COMMIT = re.compile(r"(\d{20})\.json")
"""A commit file of a table's log, named by its version (zero-padded to 20 digits)."""
_LOG_RETENTION = "delta.logRetentionDuration"
_OPENED_MAX = 64
"""How many local tables keep an opened handle of their latest version (`Lake.table`)."""
_opened: OrderedDict[str, tuple[tuple[object, ...], DeltaTable]] = OrderedDict()
"""Handles for reads (`Lake.table`): never written through by the lake."""
_writing: OrderedDict[str, tuple[tuple[object, ...], DeltaTable]] = OrderedDict()
"""Handles for writes, each left by the write that moved it to the version it holds."""
_opened_lock = threading.Lock()


def _forget_opened() -> None:
    _opened.clear()
    _writing.clear()


def _keep(handles: OrderedDict[str, tuple[tuple[object, ...], DeltaTable]], uri: str,
          stamp: tuple[object, ...], dt: DeltaTable) -> None:
    with _opened_lock:
        handles[uri] = (stamp, dt)
        handles.move_to_end(uri)
        while len(handles) > _OPENED_MAX:
            handles.popitem(last=False)


os.register_at_fork(after_in_child=_forget_opened)  # a handle belongs to its process


ROW_GROUP_ROWS = 131_072
"""Most rows in one Parquet row group of the files an overwrite given `row_group_rows` makes
(the gold aggregates and the kept states, which the feature builders read one range of
customers at a time). A reader filtering a range of a column the files are sorted by decodes
only the row groups whose statistics overlap it; with delta-rs' default of 1,048,576 rows, each
20,000-customer range of the engagement build at 50,000 customers decoded about a million rows
of its neighbours' (bench/RESULTS.md, issue 15). Not for every write: text columns compress
worse in small groups (bronze events 26 against 22 MiB a million rows with snappy; silver
events Z-ordered with zstd 31.5 against 22.7 MiB per 2 million), and nothing reads those
tables by ranges; gold grows 5-6%."""


def _small_groups(rows: int | None) -> WriterProperties | None:
    """Writer properties capping row groups at `rows` (None: delta-rs' defaults). Given
    properties replace all of delta-rs' own, so its default `compression` is restated:
    without it the files are written uncompressed (2.8 times the bytes).
    Raises ValueError for a cap that is not a positive number of rows."""
    if rows is None:
        return None
    if rows <= 0:
        raise ValueError(f"row_group_rows must be a positive number of rows, not {rows!r}")
    return WriterProperties(max_row_group_size=rows, compression="SNAPPY")


class WriteConflict(CommitFailedError):
    """A write that another writer's commit to the same table beat (Delta's
    `CommitFailedError`, which it is, chained as its cause): the message names the table, and
    nothing of the write was committed, so rerunning the step writes it on the new version."""


@contextmanager
def _conflicts(label: str) -> Iterator[None]:
    """Re-raise Delta's CommitFailedError of a write to the table `label` as a WriteConflict
    naming it."""
    try:
        yield
    except WriteConflict:
        raise
    except CommitFailedError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WriteConflict(
            f"table {label}: another writer committed to it first, so this write was not "
            f"committed ({first}); rerun the step (two runs writing {label} at once "
            f"conflict)") from error


def _commits(path: str) -> list[tuple[int, str]]:
    """(version, file path) of each commit file in the `_delta_log` of the local table at
    `path`; OSError when there is no log."""
    with os.scandir(os.path.join(path, "_delta_log")) as entries:
        return [(int(m.group(1)), e.path) for e in entries if (m := _COMMIT.fullmatch(e.name))]


def _latest_commit(path: str) -> tuple[object, ...] | None:
    """What identifies the latest version of the local table at `path`: its highest commit
    file's version, with that file's inode, device, modification time and content digest, so
    a table deleted and created again at the same path is told apart (its commit holds a new
    table id or new data file names, and a commit time). None when there is no commit file
    (or no log)."""
    try:
        found = _commits(path)
        if not found:
            return None
        version, commit = max(found)
        with open(commit, "rb") as file:
            st = os.fstat(file.fileno())
            digest = hashlib.blake2b(file.read(), digest_size=16).digest()
    except OSError:  # no log, or the commit went since the listing
        return None
    return (version, st.st_ino, st.st_dev, st.st_mtime_ns, digest)


@dataclass
class Lake:
    """Delta operations on table locations (local paths or object-store URIs)."""

    storage_options: dict[str, str] | None = field(default=None)

    def exists(self, uri: str) -> bool:
        """Whether a Delta table is at `uri` (delta-rs' `is_deltatable`). A local table
        with a commit file in its log is one without asking delta-rs, which costs 0.1-0.5 ms
        a call (it sets up an object store; ~3,000 calls in a 6-run test backfill: every
        governed read and write asks first)."""
        path = self._local(uri)
        try:
            if path is not None and _commits(path):  # delta-rs would say True as well
                return True
        except OSError:  # no log: delta-rs' answer
            pass
        return DeltaTable.is_deltatable(uri, storage_options=self.storage_options)

    def table(self, uri: str, version: Version = None) -> DeltaTable:
        """The table at `uri`, at `version` (default: its latest). Read from it only: the
        handle of a local table's latest version is shared by every later call until a
        commit follows it (`_latest`); a write, `load_as_version` or `update_incremental`
        uses its own handle (`_open`)."""
        if version is None:
            return self._latest(uri)
        dt = self._open(uri)
        if isinstance(version, datetime):
            version = self._version_at(uri, dt, version)
        if version is not None:
            dt.load_as_version(version)
        return dt

    def _open(self, uri: str) -> DeltaTable:
        """A new handle of the table's latest version (it replays the log since the last
        checkpoint: 2 ms for a small table's log, 12 ms for `pipeline.progress`' 50 commits);
        FileNotFoundError when there is no table at `uri`."""
        try:
            return DeltaTable(uri, storage_options=self.storage_options)
        except TableNotFoundError as error:
            raise FileNotFoundError(f"no Delta table at {uri}") from error

    def _latest(self, uri: str) -> DeltaTable:
        """`_open`, except that a local table's handle is kept while its highest commit file
        is the same file (`_latest_commit`, a listing of `_delta_log`: 0.1-0.5 ms): a step
        reads the same tables several times between writes, and a write adds a commit file,
        so no handle outlives the version it holds. Object-store tables are opened each time
        (their listings give no inode and may give only seconds)."""
        stamp = self._stamp(uri)
        if stamp is None:
            return self._open(uri)
        with _opened_lock:
            kept = _opened.get(uri)
            # a caller that moved the handle (load_as_version) against the rule: not kept
            if kept is not None and kept[0] == stamp and kept[1].version() == stamp[0]:
                _opened.move_to_end(uri)
                return kept[1]
        dt = self._open(uri)
        if dt.version() == stamp[0]:  # else a commit landed since the listing: not kept
            _keep(_opened, uri, stamp, dt)
        return dt

    def _local(self, uri: str) -> str | None:
        """`uri` when it is a local path and the lake has no storage options; else None (an
        object store's URI, or a `file://` one, which may be percent-encoded)."""
        return None if self.storage_options or "://" in uri else uri

    def _stamp(self, uri: str) -> tuple[object, ...] | None:
        """`_latest_commit` of a `_local` table; else None."""
        path = self._local(uri)
        return None if path is None else _latest_commit(path)

    def _for_write(self, uri: str) -> DeltaTable:
        """A handle to write the table through: the one the lake's last write of it left
        (`_wrote`) while no other commit followed, taken out so no other write shares it;
        else `_open`. Writing through it is writing through a new handle: both hold the
        latest version, whose commit is the one this write must follow."""
        stamp = self._stamp(uri)
        if stamp is not None:
            with _opened_lock:
                kept = _writing.pop(uri, None)
            if kept is not None and kept[0] == stamp and kept[1].version() == stamp[0]:
                return kept[1]
        return self._open(uri)

    def _wrote(self, uri: str, dt: DeltaTable) -> int:
        """After a write through `dt` (which follows its commit): keep it for the table's next
        write while its commit is the latest one; returns its version."""
        version = dt.version()
        stamp = self._stamp(uri)
        if stamp is not None and stamp[0] == version:
            _keep(_writing, uri, stamp, dt)
        return version

    @staticmethod
    def _version_at(uri: str, dt: DeltaTable, at: datetime) -> int:
        """The latest version whose commit time is at or before `at` (Delta's TIMESTAMP AS
        OF; a naive `at` is UTC). The commit time is the commit's `commitInfo.timestamp`
        (epoch ms), the time `history` shows: delta-rs's own datetime travel uses the log
        file's modification time, a few ms later than that and reset by any copy of the
        table, so a time read from `history` could select the version before it.

        Raises ValueError naming the table when `at` is before its first commit."""
        at_ms = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000
        committed = [e["version"] for e in dt.history() if e["timestamp"] <= at_ms]
        if not committed:
            raise ValueError(f"table at {uri} has no version committed at or before "
                             f"{at.isoformat()}")
        return max(committed)

    def create(
        self, uri: str, schema: pl.Schema, *, name: str, description: str | None = None,
        column_comments: dict[str, str] | None = None, partition_by: Sequence[str] = (),
        properties: Mapping[str, str] | None = None,
    ) -> int:
        """Create an empty table whose schema is the contract for every later write; each
        write splits its rows into one folder per value of the `partition_by` columns.
        `properties`: Delta table properties of its metadata (e.g. `delta.targetFileSize`)."""
        comments = column_comments or {}
        arrow = pl.DataFrame(schema=storable(name, schema)).to_arrow()
        fields = [
            f.with_metadata({"comment": comments[f.name]}) if f.name in comments else f
            for f in arrow.schema
        ]
        write_deltalake(
            uri, arrow.cast(pa.schema(fields)), mode="error", name=name,
            description=description, storage_options=self.storage_options,
            partition_by=list(partition_by) or None,
            configuration=dict(properties) if properties else None,
        )
        return 0

    def missing_properties(self, uri: str, properties: Mapping[str, str]) -> dict[str, str]:
        """Those of `properties` the table's metadata lacks or holds with another value
        (reads the log of the latest version, writes nothing)."""
        held = self.table(uri).metadata().configuration
        return {k: v for k, v in properties.items() if held.get(k) != v}

    def set_properties(self, uri: str, properties: Mapping[str, str]) -> int:
        """Set Delta table properties (one metadata commit; no data file is rewritten: the
        writes after it follow them). Returns the new version."""
        dt = self._for_write(uri)
        dt.alter.set_table_properties(dict(properties))
        return self._wrote(uri, dt)

    def schema(self, uri: str) -> pl.Schema:
        return pl.scan_delta(self.table(uri)).collect_schema()

    def scan(self, uri: str, version: Version = None) -> pl.LazyFrame:
        return pl.scan_delta(self.table(uri, version))

    def read(
        self, uri: str, version: Version = None, columns: Sequence[str] | None = None
    ) -> pl.DataFrame:
        frame = self.scan(uri, version)
        return (frame.select(columns) if columns else frame).collect()

    def version(self, uri: str) -> int:
        """The table's latest version: the highest commit file in its log, found by listing
        `_delta_log` instead of opening the table, which also replays every commit since the
        last checkpoint (3-15 ms of CPU per open, against 0.3 ms to list a data table's log
        and 4 ms for the audit log's 321 entries; a one-day refresh asks ~50 times). A log
        without a commit file, or no table at `uri`, is left to delta-rs (FileNotFoundError
        when there is no table)."""
        try:
            found = self._storage(uri).get_file_info(
                pafs.FileSelector("_delta_log", allow_not_found=True))
        except (OSError, DeltaError):  # no such location: delta-rs says so below
            found = []
        commits = (_COMMIT.fullmatch(f.base_name) for f in found)
        latest = max((int(m.group(1)) for m in commits if m), default=None)
        return self.table(uri).version() if latest is None else latest

    def history(self, uri: str, limit: int | None = None) -> list[dict[str, Any]]:
        return self.table(uri).history(limit)

    def partition_columns(self, uri: str) -> list[str]:
        return list(self.table(uri).metadata().partition_columns)

    def partition_range(self, uri: str, column: str) -> tuple[Any, Any] | None:
        """The least and greatest value of the partition column `column` over the table's live
        files, from its log (no data file is read); None when it has no file or no value.
        ValueError when the table is not partitioned by `column`."""
        if column not in self.partition_columns(uri):
            raise ValueError(f"{uri} is not partitioned by {column!r}")
        files = pl.DataFrame(self.table(uri).get_add_actions(flatten=True))
        if files.is_empty():
            return None
        values = files.get_column(f"partition.{column}")
        return None if values.null_count() == values.len() else (values.min(), values.max())

    def changed_files(self, uri: str, since: int) -> tuple[list[str], list[str], int]:
        """(data files the commits after version `since` added, data files they removed, the
        latest version), from the commits' add and remove actions whose `dataChange` is true:
        files an OPTIMIZE rewrote hold the same rows and do not count, and a file both added
        and removed after `since` cancels out. A removed file may since have been vacuumed
        (reading it then fails). Reads the commit files only, not the data."""
        latest = self.version(uri)
        storage = self._storage(uri)
        added: set[str] = set()
        removed: set[str] = set()
        for version in range(since + 1, latest + 1):
            with storage.open_input_stream(f"_delta_log/{version:020d}.json") as stream:
                lines = stream.read().decode().splitlines()
            for action in map(json.loads, filter(None, lines)):
                for kind, files in (("add", added), ("remove", removed)):
                    if kind in action and action[kind].get("dataChange", True):
                        files.add(f"{uri.rstrip('/')}/{unquote(action[kind]['path'])}")
        return sorted(added - removed), sorted(removed - added), latest

    def damaged_files(self, uri: str, version: int | None, *, footers: bool = False
                      ) -> dict[str, str]:
        """The data files of version `version` (None: the latest) of the table that cannot be
        read as committed, each with why: `deleted` (VACUUM removed it) or `<n> bytes, the
        log records <m>` (rewritten after its commit). Empty when time travel can read that
        version in full. Compares sizes only (reads no data); with `footers`, also reads the
        Parquet footer of each file of the right size (a few KiB, not its rows): `not a
        Parquet file: ...` when it cannot be read, `<n> rows, the log records <m>` when its
        row count is not the commit's. FileNotFoundError when there is no table at `uri`;
        deltalake's DeltaError when its log no longer reaches `version` (expired log
        entries, or a version never written)."""
        actions = pl.DataFrame(self.table(uri, version).get_add_actions(flatten=True))
        if actions.is_empty():
            return {}
        paths = [unquote(path) for path in actions["path"]]
        storage = self._storage(uri)
        found = storage.get_file_info(paths)
        records = (actions["num_records"] if "num_records" in actions.columns
                   else pl.Series([None] * actions.height))
        damaged = {}
        for path, info, size, rows in zip(paths, found, actions["size_bytes"], records,
                                          strict=True):
            file = f"{uri.rstrip('/')}/{path}"
            if info.type == pafs.FileType.NotFound:
                damaged[file] = "deleted"
            elif info.size != size:
                damaged[file] = f"{info.size} bytes, the log records {size}"
            elif footers:
                try:
                    with storage.open_input_file(path) as handle:
                        held = pq.read_metadata(handle).num_rows
                except (OSError, pa.ArrowException) as error:
                    damaged[file] = f"not a Parquet file: {error}"
                    continue
                if rows is not None and held != rows:
                    damaged[file] = f"{held} rows, the log records {rows}"
        return damaged

    def written_by(self, uri: str, key: str) -> tuple[int, Any] | None:
        """The version of the latest commit whose `commitInfo` holds the entry `key` (given by
        a write's `commit_metadata`), with its value, provided every later commit changed no
        data: they may hold only add and remove actions whose `dataChange` is false (an
        OPTIMIZE's) or none at all (a VACUUM's). None when a later commit changed data, the
        metadata or the protocol, or when no commit holds `key` (back to the first version,
        or to one whose commit file the log cleanup removed). Reads the commit files from the
        latest back to that one, not the data; ValueError when one is not JSON."""
        storage = self._storage(uri)
        for version in range(self.version(uri), -1, -1):
            try:
                with storage.open_input_stream(f"_delta_log/{version:020d}.json") as stream:
                    lines = stream.read().decode().splitlines()
            except FileNotFoundError:  # before the log's cleanup: not found
                return None
            actions = [json.loads(line) for line in lines if line.strip()]
            info = next((a["commitInfo"] for a in actions if "commitInfo" in a), {})
            if key in info:
                return version, info[key]
            for action in actions:
                (kind, body), *more = action.items()
                if more or (kind != "commitInfo" and not (
                        kind in ("add", "remove") and body.get("dataChange") is False)):
                    return None
        return None

    def drop(self, uri: str) -> None:
        """Delete the table at `uri` and every file under it: its log first (a crash then
        leaves data files no log names, which a table created there again ignores). For a
        table that cannot be read or written anymore (a corrupt log): what `create` then
        makes there again is a new table."""
        with _opened_lock:
            _opened.pop(uri, None)
            _writing.pop(uri, None)
        path = self._local(uri)
        if path is not None:
            for folder in (os.path.join(path, "_delta_log"), path):
                if os.path.isdir(folder):
                    shutil.rmtree(folder)
            return
        # file by file: deltalake's handler does not take pyarrow's delete_dir_contents call
        storage = self._storage(uri)
        found = storage.get_file_info(pafs.FileSelector("", allow_not_found=True,
                                                        recursive=True))
        files = [f.path for f in found if f.type == pafs.FileType.File]
        for path in sorted(files, key=lambda p: not p.startswith("_delta_log/")):
            storage.delete_file(path)

    def _storage(self, uri: str) -> pafs.FileSystem:
        """The files of the table at `uri` (paths relative to its root, as its log records
        them once unquoted), through delta-rs' object store and this lake's storage options:
        pyarrow's own `FileSystem.from_uri` knows neither an endpoint nor credentials given as
        options."""
        return pafs.PyFileSystem(DeltaStorageHandler(uri, self.storage_options))

    def read_files(self, files: Sequence[str], columns: Sequence[str]) -> pl.DataFrame:
        """`columns` of the rows in these data files of a table (see `changed_files`)."""
        return pl.read_parquet(list(files), columns=list(columns),
                               storage_options=self.storage_options)

    @staticmethod
    def _conformed(dt: DeltaTable, label: str, df: pl.DataFrame, evolve: bool) -> pa.Table:
        return conform(label, df, pl.scan_delta(dt).collect_schema(), evolve=evolve).to_arrow()

    def _write(self, uri: str, df: pl.DataFrame, *, label: str, evolve: bool,
               commit_metadata: Mapping[str, Any] | None = None, **options: Any) -> int:
        """One write on one opened table: opening reads the log, which costs more than a
        small write (the table handle follows the commit, so its version is the new one).
        `commit_metadata`: entries added to the commit's `commitInfo` (`written_by` finds
        them). A commit another writer beat raises WriteConflict naming `label`."""
        dt = self._for_write(uri)
        properties = (CommitProperties(custom_metadata=dict(commit_metadata))
                      if commit_metadata else None)
        with _conflicts(label):
            write_deltalake(dt, self._conformed(dt, label, df, evolve),
                            schema_mode="merge" if evolve else None,
                            commit_properties=properties, **options)
        return self._wrote(uri, dt)

    def append(self, uri: str, df: pl.DataFrame, *, label: str, evolve: bool = False) -> int:
        return self._write(uri, df, label=label, evolve=evolve, mode="append")

    def appender(self, uri: str, *, label: str) -> Callable[[pl.DataFrame], int]:
        """`append` for a writer that appends often: it keeps the table open and reads only
        the commits made since its last write. Opening replays up to a hundred JSON commits
        on all cores, which stalls a server that flushes a log every few seconds. Use from
        one thread at a time."""
        dt = self._open(uri)

        def append(df: pl.DataFrame) -> int:
            dt.update_incremental()
            with _conflicts(label):
                write_deltalake(dt, self._conformed(dt, label, df, False), mode="append")
            return dt.version()

        return append

    def overwrite(
        self, uri: str, df: pl.DataFrame, *, label: str, predicate: str | None = None,
        evolve: bool = False, commit_metadata: Mapping[str, Any] | None = None,
        row_group_rows: int | None = None,
    ) -> int:
        """Replace the whole table, or only the rows matching `predicate` (replaceWhere).
        `commit_metadata`: entries of the commit's `commitInfo` (see `written_by`).
        `row_group_rows`: most rows in a Parquet row group of the new files (`ROW_GROUP_ROWS`
        for a table read by ranges of a key; default delta-rs' 1,048,576); not positive:
        ValueError."""
        return self._write(uri, df, label=label, evolve=evolve, mode="overwrite",
                           predicate=predicate, commit_metadata=commit_metadata,
                           writer_properties=_small_groups(row_group_rows))

    def merge(
        self, uri: str, df: pl.DataFrame, *, label: str, keys: Sequence[str],
        update_when: str | None = None, evolve: bool = False, target_filter: str | None = None,
    ) -> dict[str, Any]:
        """Upsert on `keys`; an existing row is replaced only where `update_when` holds.

        `update_when` is a SQL predicate over aliases `s` (incoming) and `t` (table);
        `target_filter` (over `t`, with literals) must hold for every row a key can match, and
        lets delta-rs skip the files where it cannot. The MERGE condition is
        `t."k" = s."k" AND ... AND (target_filter)`: key names are quoted identifiers (see
        `lakehouse_ml.lake.predicates`), and the filter is parenthesized, so an `OR` in it
        cannot match a stored row to every incoming row.
        """
        on = same_keys(keys) + (f" AND ({target_filter})" if target_filter else "")
        # the source is already in memory: streamed execution only makes delta-rs scan the
        # whole target without pruning (delta-rs issues 3636, 3278), minutes and GiBs later
        dt = self._for_write(uri)
        merger = dt.merge(
            self._conformed(dt, label, df, evolve), predicate=on, source_alias="s",
            target_alias="t", merge_schema=evolve, streamed_exec=False,
        )
        metrics = merger.when_matched_update_all(predicate=update_when)
        with _conflicts(label):
            result = metrics.when_not_matched_insert_all().execute()
        self._wrote(uri, dt)
        return result

    def values_where(self, uri: str, column: str, predicate: str | None) -> list[Any]:
        """The distinct values of `column` in the rows `predicate` matches (every row when
        None): the rows a `delete` or an `overwrite` with that predicate would remove, decided
        by the same SQL engine (DataFusion). Raises whatever DataFusion raises for a predicate
        it cannot evaluate."""
        where = f" WHERE ({predicate})" if predicate is not None else ""
        reader = QueryBuilder().register("t", self.table(uri)).execute(
            f"SELECT DISTINCT {identifier(column)} AS v FROM t{where}")
        return reader.read_all().column("v").to_pylist()

    def delete(self, uri: str, predicate: str, *, label: str | None = None) -> dict[str, Any]:
        """DELETE the rows matching `predicate`; a commit another writer beat raises
        WriteConflict naming `label` (default: `uri`)."""
        dt = self._for_write(uri)
        with _conflicts(label or uri):
            metrics = dt.delete(predicate)
        self._wrote(uri, dt)
        return metrics

    def optimize(self, uri: str, zorder_by: Sequence[str] = ()) -> dict[str, Any]:
        """OPTIMIZE: Z-order each partition by `zorder_by` less the table's partition columns
        (Delta refuses to Z-order by a partition column: each partition holds one value of
        it), or compaction only when no column is left; either writes delta-rs' default row
        groups (zstd). Returns delta-rs' metrics."""
        dt = self._open(uri)
        partitions = set(dt.metadata().partition_columns)
        columns = [c for c in zorder_by if c not in partitions]
        return dt.optimize.z_order(columns) if columns else dt.optimize.compact()

    def purge_log(self, uri: str) -> int:
        """Checkpoint the table's latest version and delete every log entry before it, so
        `_delta_log` keeps no earlier action, nor the statistics (min/max values of each
        column) of files a VACUUM deleted; time travel then reaches the checkpoint's version
        and later ones only. `delta.logRetentionDuration` is 0 for the cleanup and is then
        restored (Delta's default, 30 days, if it was not set). Returns the checkpoint's
        version."""
        dt = self._open(uri)
        kept = dt.metadata().configuration.get(_LOG_RETENTION, "interval 30 days")
        dt.alter.set_table_properties({_LOG_RETENTION: "interval 0 seconds"})
        dt.create_checkpoint()
        version = dt.version()
        dt.cleanup_metadata()
        dt.alter.set_table_properties({_LOG_RETENTION: kept})
        return version

    def vacuum(self, uri: str, retention_hours: int, *, enforce_retention_duration: bool = True
               ) -> list[str]:
        """Delete files no longer referenced by versions within the retention window. As in
        Delta, a window shorter than the table's `delta.deletedFileRetentionDuration` (7 days
        by default) is refused unless `enforce_retention_duration=False`."""
        return self._open(uri).vacuum(
            retention_hours=retention_hours, dry_run=False,
            enforce_retention_duration=enforce_retention_duration,
        )
