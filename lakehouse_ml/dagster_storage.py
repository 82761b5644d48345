"""Dagster's SQLite storage with concurrency pools that hold on one machine: the project's
`dagster.yaml` configures it (`storage: custom:`) for every process that opens the instance
(`lakehouse-ml run`, `dagster dev`, the daemon, run workers).

Dagster's own SQLite storage claims a pool slot in several separate statements (is a slot
free? queue the step as assigned; take the slot), and SQLite ignores the `SELECT ... FOR
UPDATE SKIP LOCKED` that serialises this on Postgres: two runs starting at once could both take
a pool's single slot (e.g. two trainings of one model in `train_<model>` at once), and two
processes opening a fresh `DAGSTER_HOME` at once could both create its databases (`table ...
already exists`, `alembic_version has more than one head`). Here each pool operation, and the
creation of the databases, holds a lock file in `DAGSTER_HOME` (`filelock`), so processes take
turns. Postgres storage (production) needs none of this: replace the whole `storage:` block.

Dagster commits each event in a transaction of its own, and its SQLite databases are in WAL mode,
where SQLite's default `synchronous=FULL` waits for an fsync at every commit. Connections to
this storage's databases use `synchronous=NORMAL`, SQLite's recommended setting in WAL mode
(https://www.sqlite.org/pragma.html#pragma_synchronous): as consistent, and a process killed
mid-run loses nothing committed; only a power loss can drop the last commits.

Dagster's SQLite storage makes a SQLAlchemy engine, opens a connection, and closes both for each
event it stores (and again for the index when the event is mirrored there); closing the last
connection to a WAL database also checkpoints it and deletes its WAL file. Here a storage keeps
one engine per database file (the index, and the runs it used last), each holding one open
connection, as Dagster's Postgres storage keeps one engine: ~0.5 ms of CPU an event against ~4.8.
An engine is dropped when its file is deleted or replaced (`wipe`, here or in another process),
at `dispose`, and never crosses a fork: its idle connection is closed before one and the child
makes its own. Its run watchers (the UI's live logs) also wake on writes to a run's WAL file,
where commits land while connections stay open (Dagster's own watcher, in a process opening these
files with Dagster's storage class instead of `dagster.yaml`'s, sees them only at a checkpoint).
"""

from __future__ import annotations

import functools
import os
import sqlite3
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar

import dagster._check as check
from dagster._core.event_api import EventHandlerFn
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    SqliteStorageConfig,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from filelock import FileLock
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool
from watchdog.events import FileSystemEvent
from watchdog.observers import Observer

from lakehouse_ml import dagster_pool_wait

dagster_pool_wait.apply()  # a run waiting for a pool slot sleeps (Dagster 1.13.27 spins)

F = TypeVar("F", bound=Callable[..., Any])
POOLS_LOCK = "pools.lock"
"""Held by every pool operation, in the event log's folder (`<base_dir>/history/runs/`)."""
CREATE_LOCK = "storage.lock"
"""Held while the storage's databases are opened (and created, the first time) in `base_dir`."""
KEPT_ENGINES = 8
"""Database files (the index and the runs used last) whose engine an event log storage keeps open
in a process: each holds one idle connection (three file descriptors: the file, its WAL, its
shared memory)."""


_NORMAL_SYNC_UNDER: set[str] = set()
"""Folders whose WAL databases are opened with `synchronous=NORMAL` in this process."""


def _normal_sync(dbapi_connection: object, _record: object) -> None:
    """SQLAlchemy `connect` hook: `synchronous=NORMAL` for a WAL database under a folder of
    `_NORMAL_SYNC_UNDER`; any other connection is left as it is."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    listed = dbapi_connection.execute("PRAGMA database_list").fetchone()
    path = os.path.realpath(listed[2]) if listed and listed[2] else ""
    if (any(path.startswith(folder) for folder in _NORMAL_SYNC_UNDER)
            and dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def normal_sync_under(base_dir: str) -> None:
    """Open the WAL databases under `base_dir` with `synchronous=NORMAL` from now on in this
    process (every SQLAlchemy engine: Dagster makes one for each event it stores)."""
    if not event.contains(Engine, "connect", _normal_sync):
        event.listen(Engine, "connect", _normal_sync)
    _NORMAL_SYNC_UNDER.add(os.path.join(os.path.realpath(base_dir), ""))


def _one_process_at_a_time(method: F) -> F:
    @functools.wraps(method)
    def locked(self: PoolSafeSqliteEventLogStorage, *args: Any, **kwargs: Any) -> Any:
        with self.pools_lock:
            return method(self, *args, **kwargs)

    return locked  # type: ignore[return-value]


class _KeptEngine(NamedTuple):
    engine: Engine
    file: tuple[int, int] | None
    """The database file's (device, inode) when the engine was made: another file, or none, at
    that path means the engine's connection is to a deleted file."""


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


_STORAGES: weakref.WeakSet[PoolSafeSqliteEventLogStorage] = weakref.WeakSet()
"""This process's event log storages, whose idle connections are closed before a fork."""


def _close_connections_before_fork() -> None:
    for storage in list(_STORAGES):
        storage.close_idle_connections()


os.register_at_fork(before=_close_connections_before_fork)


class _RunWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watcher of a run's events (it reads the new ones when the run's database file
    changes), also woken by writes to the run's WAL file: while a writer keeps its connection
    open, its commits reach the database file only at a checkpoint (every ~1000 pages)."""

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.event_type == "modified" and event.src_path == f"{self._log_path}-wal":
            self._process_log()
        else:
            super().dispatch(event)


class PoolSafeSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose pool operations (creating a pool, claiming and freeing its
    slots, changing its limit) run one at a time across the machine's processes and threads,
    and which keeps an engine and one open connection per database file (`KEPT_ENGINES` at most,
    least recently used dropped first) instead of making both for each event."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, _KeptEngine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)  # may already connect (a new index)
        self.pools_lock = FileLock(os.path.join(self._base_dir, POOLS_LOCK))
        _STORAGES.add(self)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """A connection to `shard`'s database in a transaction, one at a time in this storage
        (as Dagster's), on the engine kept for that file."""
        with self._db_lock:
            check.str_param(shard, "shard")
            with self._engine(shard).connect() as connection, connection.begin():
                yield connection

    def _engine(self, shard: str) -> Engine:
        """The kept engine of `shard`'s file, made (and the file created, or checked, with
        Dagster's `_initdb`) when none is kept or the file it was made for is gone. Called with
        `_db_lock` held."""
        path = self.path_for_shard(shard)
        kept, file = self._kept().pop(shard, None), _file_identity(path)
        if kept is not None and (file is None or kept.file != file):
            kept.engine.dispose()
            self._initialized_dbs.discard(shard)
            kept = None
        if kept is None:
            engine = create_engine(
                self.conn_string_for_shard(shard), poolclass=QueuePool, pool_size=1,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            if shard not in self._initialized_dbs or file is None:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
                engine.dispose()  # the next connection opens a WAL database: NORMAL sync hook
            kept = _KeptEngine(engine, _file_identity(path))
        self._engines[shard] = kept
        while len(self._engines) > KEPT_ENGINES:
            self._engines.popitem(last=False)[1].engine.dispose()
        return kept.engine

    def _kept(self) -> OrderedDict[str, _KeptEngine]:
        """The engines this process made (a forked child starts with none of its parent's)."""
        if self._engines_pid != os.getpid():
            self._engines, self._engines_pid = OrderedDict(), os.getpid()
        return self._engines

    def close_idle_connections(self) -> None:
        """Close the kept engines' connections that are not in use (the engines stay, and
        reconnect when used): before a fork, so that no child inherits an open SQLite
        connection. Takes no lock: the forking thread may hold one."""
        for kept in tuple(self._kept().values()):
            kept.engine.dispose()

    def _drop_engines(self) -> None:
        with self._db_lock:
            engines = self._kept()
            while engines:
                engines.popitem()[1].engine.dispose()

    def has_table(self, table_name: str) -> bool:
        """Dagster's answer (from an engine of its own), kept once the table is there: Dagster
        drops no table, and asks at each asset event."""
        if table_name in self._tables:
            return True
        if found := super().has_table(table_name):
            self._tables.add(table_name)
        return found

    def wipe(self) -> None:
        """Dagster's (it deletes the run databases), the engines dropped first."""
        self._drop_engines()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._drop_engines()

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        """Dagster's, with a watcher that also wakes on the run's WAL file (`_RunWatchdog`)."""
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watcher = _RunWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watcher, self._obs.schedule(watcher, self._base_dir, recursive=True))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: SqliteStorageConfig
    ) -> PoolSafeSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    initialize_concurrency_limit_to_default = _one_process_at_a_time(
        SqliteEventLogStorage.initialize_concurrency_limit_to_default)
    set_concurrency_slots = _one_process_at_a_time(SqliteEventLogStorage.set_concurrency_slots)
    delete_concurrency_limit = _one_process_at_a_time(
        SqliteEventLogStorage.delete_concurrency_limit)
    claim_concurrency_slot = _one_process_at_a_time(SqliteEventLogStorage.claim_concurrency_slot)
    free_concurrency_slots_for_run = _one_process_at_a_time(
        SqliteEventLogStorage.free_concurrency_slots_for_run)
    free_concurrency_slot_for_step = _one_process_at_a_time(
        SqliteEventLogStorage.free_concurrency_slot_for_step)


class PoolSafeSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage (runs, event logs, schedules under `base_dir`, the
    same files), created one process at a time, with a `PoolSafeSqliteEventLogStorage`."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        normal_sync_under(base_dir)
        with FileLock(os.path.join(base_dir, CREATE_LOCK)):
            self._run_storage = SqliteRunStorage.from_local(_runs_directory(base_dir))
            self._event_log_storage = PoolSafeSqliteEventLogStorage(
                _event_logs_directory(base_dir))
            self._schedule_storage = SqliteScheduleStorage.from_local(
                _schedule_directory(base_dir))
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: SqliteStorageConfig
    ) -> PoolSafeSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
