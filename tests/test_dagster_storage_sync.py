"""The project's Dagster storage (the shipped `dagster.yaml`) opens its WAL databases with
`synchronous=NORMAL` (no fsync at each event's commit); SQLite databases elsewhere in the
process keep SQLite's default."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy

ROOT = Path(__file__).resolve().parent.parent
FULL, NORMAL = 2, 1


@pytest.fixture
def with_fsync(sqlite_without_fsync: Callable[[object, object], None]) -> Iterator[None]:
    """Without the suite's own no-fsync hook (tests/conftest.py) for this test."""
    sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", sqlite_without_fsync)
    try:
        yield
    finally:
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", sqlite_without_fsync)


def _synchronous(connection: sqlalchemy.Connection) -> int:
    return connection.exec_driver_sql("PRAGMA synchronous").scalar_one()


def test_the_instance_databases_skip_the_fsync_and_others_do_not(
        with_fsync: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    @dg.asset
    def one() -> None:
        return None

    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([one], instance=instance)
        storage = instance.event_log_storage
        with storage.run_connection(result.run_id) as run_db:  # one at a time: a lock each
            assert _synchronous(run_db) == NORMAL
        with storage.index_connection() as index_db:
            assert _synchronous(index_db) == NORMAL
        with instance.run_storage.connect() as runs_db:
            assert _synchronous(runs_db) == NORMAL
    elsewhere = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with elsewhere.connect() as other:
        other.exec_driver_sql("PRAGMA journal_mode=WAL")
    with elsewhere.connect() as other:
        assert _synchronous(other) == FULL
    elsewhere.dispose()
