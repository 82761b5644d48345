"""The project's Dagster event log storage (the shipped `dagster.yaml`) keeps one SQLAlchemy
engine, with one open connection, per database file, where Dagster's makes both anew for each
event; the kept ones are dropped after a wipe, at a fork, and past `KEPT_ENGINES` files, and run
watchers still see each event."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.events.log import EventLogEntry

from lakehouse_ml.dagster_storage import KEPT_ENGINES, PoolSafeSqliteEventLogStorage

ROOT = Path(__file__).resolve().parent.parent


class Opened:
    """What SQLAlchemy opens while it listens: the engines that handed out connections and the
    new SQLite connections, by database file name."""

    def __init__(self) -> None:
        self.engines: dict[str, list[sqlalchemy.Engine]] = {}
        self.connections: Counter[str] = Counter()

    def _checkout(self, connection: sqlalchemy.Connection) -> None:
        found = self.engines.setdefault(Path(connection.engine.url.database or "").name, [])
        if not any(engine is connection.engine for engine in found):
            found.append(connection.engine)

    def _connect(self, dbapi_connection: object, _record: object) -> None:
        path = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]  # type: ignore[attr-defined]
        self.connections[Path(path).name] += 1

    def __enter__(self) -> Opened:
        sqlalchemy.event.listen(sqlalchemy.Engine, "engine_connect", self._checkout)
        sqlalchemy.event.listen(sqlalchemy.Engine, "connect", self._connect)
        return self

    def __exit__(self, *_exc: object) -> None:
        sqlalchemy.event.remove(sqlalchemy.Engine, "engine_connect", self._checkout)
        sqlalchemy.event.remove(sqlalchemy.Engine, "connect", self._connect)


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """The instance of a fresh DAGSTER_HOME holding the project's dagster.yaml."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as opened:
        assert isinstance(opened.event_log_storage, PoolSafeSqliteEventLogStorage)
        yield opened


@pytest.fixture
def storage(instance: dg.DagsterInstance) -> PoolSafeSqliteEventLogStorage:
    return instance.event_log_storage  # type: ignore[return-value]


@dg.asset(partitions_def=dg.StaticPartitionsDefinition([f"p{n}" for n in range(8)]))
def parts(context) -> dg.MaterializeResult:
    context.log.info("one more event")
    return dg.MaterializeResult(metadata={"rows": 1})


@dg.asset_check(asset=parts)
def parts_check() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _run_once(instance: dg.DagsterInstance, partition: str) -> str:
    result = dg.materialize([parts, parts_check], instance=instance, partition_key=partition)
    assert result.success
    return result.run_id


def _event(run_id: str, kind: DagsterEventType = DagsterEventType.STEP_START) -> EventLogEntry:
    return EventLogEntry(
        error_info=None, level=20, user_message="", run_id=run_id, timestamp=time.time(),
        step_key="step", job_name="job", dagster_event=DagsterEvent(kind.value, "job"))


def _open_files(folder: Path, suffix: str) -> set[str]:
    """Names of the files in `folder` ending in `suffix` that this process holds open."""
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.parent == folder and target.name.endswith(suffix):
            names.add(target.name)
    return names


def _until(done: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return done()


def test_a_run_uses_one_engine_per_database_file_and_keeps_its_connection(
        instance: dg.DagsterInstance) -> None:
    _run_once(instance, "p0")  # the index, its tables and every lazy check made once
    with Opened() as opened:
        run_id = _run_once(instance, "p1")
    events = instance.all_logs(run_id)
    mirrored = [e for e in events if e.dagster_event_type in (
        DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.ASSET_CHECK_EVALUATION,
        DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS)]
    assert len(events) >= 15 and len(mirrored) >= 4
    assert len(opened.engines[f"{run_id}.db"]) == 1
    assert len(opened.engines["index.db"]) == 1
    assert opened.connections["index.db"] == 0  # the first run's connection, still open
    assert opened.connections[f"{run_id}.db"] <= 3  # creating the file, then the kept one


def test_a_wipe_drops_the_engines_of_the_deleted_files(
        storage: PoolSafeSqliteEventLogStorage) -> None:
    with Opened() as before:
        storage.store_event(_event("wiped"))
    storage.wipe()
    with Opened() as after:
        storage.store_event(_event("wiped"))
    assert not any(engine is before.engines["wiped.db"][0] for engine in after.engines["wiped.db"])
    assert len(storage.get_records_for_run("wiped").records) == 1


def test_a_file_deleted_by_another_process_is_reopened_and_created_again(
        storage: PoolSafeSqliteEventLogStorage) -> None:
    storage.store_event(_event("elsewhere"))
    other = PoolSafeSqliteEventLogStorage(storage._base_dir)  # another process's view of it
    other.wipe()
    storage.store_event(_event("elsewhere"))  # not into the deleted file
    assert len(other.get_records_for_run("elsewhere").records) == 1
    other.dispose()


def test_a_forked_child_makes_its_own_engine_and_inherits_no_open_connection(
        storage: PoolSafeSqliteEventLogStorage) -> None:
    with Opened() as parent:
        storage.store_event(_event("forked"))
    kept = parent.engines["forked.db"][0]
    child = os.fork()
    if child == 0:  # the child reports by its exit status, and runs nothing of pytest's
        status = 1
        try:
            inherited_idle = kept.pool.checkedin()
            with Opened() as opened:
                storage.store_event(_event("forked"))
            own = opened.engines["forked.db"]
            status = 0 if inherited_idle == 0 and own and own[0] is not kept else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    storage.store_event(_event("forked"))  # the parent reconnects
    assert len(storage.get_records_for_run("forked").records) == 3


def test_engines_past_the_limit_are_closed(storage: PoolSafeSqliteEventLogStorage) -> None:
    runs = [f"run{n}" for n in range(KEPT_ENGINES + 4)]
    for run_id in runs:
        storage.store_event(_event(run_id))
    open_databases = _open_files(Path(storage._base_dir), ".db")
    assert len(open_databases) == KEPT_ENGINES, open_databases
    assert f"{runs[-1]}.db" in open_databases and f"{runs[0]}.db" not in open_databases
    storage.store_event(_event(runs[0]))  # closed, used again
    assert len(storage.get_records_for_run(runs[0]).records) == 2


def test_a_watcher_sees_each_event_while_the_writer_keeps_its_connection(
        storage: PoolSafeSqliteEventLogStorage) -> None:
    storage.store_event(_event("watched"))
    watcher = PoolSafeSqliteEventLogStorage(storage._base_dir)  # e.g. the UI's process
    seen: list[str] = []

    def see(entry: EventLogEntry, cursor: str) -> None:
        seen.append(cursor)

    watcher.watch("watched", watcher.get_records_for_run("watched").cursor, see)
    try:
        for _ in range(5):
            storage.store_event(_event("watched"))
        assert _until(lambda: len(seen) == 5), seen
        time.sleep(0.5)
        assert len(set(seen)) == len(seen) == 5
    finally:
        watcher.end_watch("watched", see)
        watcher.dispose()
