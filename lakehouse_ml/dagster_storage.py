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
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    SqliteStorageConfig,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from filelock import FileLock
from sqlalchemy import event
from sqlalchemy.engine import Engine

F = TypeVar("F", bound=Callable[..., Any])
POOLS_LOCK = "pools.lock"
"""Held by every pool operation, in the event log's folder (`<base_dir>/history/runs/`)."""
CREATE_LOCK = "storage.lock"
"""Held while the storage's databases are opened (and created, the first time) in `base_dir`."""


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


class PoolSafeSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose pool operations (creating a pool, claiming and freeing its
    slots, changing its limit) run one at a time across the machine's processes and threads."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self.pools_lock = FileLock(os.path.join(self._base_dir, POOLS_LOCK))

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
