"""Shared fixtures: a throw-away lakehouse (root + landing) and generated demo data. `make test`
runs the files on every core with `--dist loadfile`: a file's tests share one worker (and its
module fixtures, in order)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import mlflow
import mlflow.store.db.utils as mlflow_db
import mlflow.store.model_registry.sqlalchemy_store as mlflow_registry
import pytest
import sqlalchemy
import yaml
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.generator import GenerationReport, generate
from lakehouse_ml.governance.audit import close_audit_logs
from lakehouse_ml.governance.lineage import close_lineage_logs
from lakehouse_ml.medallion.spec import Domain
from tests.durations import RECORDED, slowest_files_first
from tests.redis_server import redis_server
from tests.stray_files import PROJECT, StrayWatch

os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
"""A run over a range of daily partitions announces each asset's planned materialization in one
Dagster event instead of one per partition (a 100-day backfill of 10 assets: 1,000 events, 20
CPU-s of the run's 20 -> 12); no test reads planned materializations. Dagster's switch (see
`EventLogStorage.supports_partition_subset_in_asset_materialization_planned_events`); set for
this process and the processes it starts. `make run` keeps Dagster's default, under which the
UI marks each partition of a failed single-run backfill failed."""
START = date(2026, 3, 1)
DAYS = 14
HISTORY_CUSTOMERS, HISTORY_SEED = 300, 5


def day_keys(start: date = START, days: int = DAYS) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range(days)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest files first (see `tests/durations.py`)."""
    slowest_files_first(items, json.loads(RECORDED.read_text()) if RECORDED.exists() else {})


PROJECT_WATCH = StrayWatch(PROJECT)
sys.addaudithook(PROJECT_WATCH.hook)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on loopback for the session (`tests.redis_server`); its absence is
    a failure."""
    with redis_server() as url:
        yield url


@pytest.fixture(autouse=True)
def nothing_written_into_the_project(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that leaves MLflow's default store (`mlflow.db`, `mlruns/`) in the project root
    fails, named, with where it was opened (see `tests/stray_files.py`)."""
    yield
    problem = PROJECT_WATCH.check()
    if problem:
        pytest.fail(f"{request.node.nodeid} {problem}", pytrace=False)


def copied_store_tables(initialize: Callable[[sqlalchemy.Engine], None], template: Path
                        ) -> Callable[[sqlalchemy.Engine], None]:
    """MLflow's `_initialize_tables(engine)` for a new store, made once: the first new SQLite
    store of the process has its tables created and migrated by `initialize` (MLflow's own)
    into `template`; each new SQLite store gets a copy of it (sqlite3's backup API), the same
    tables at the same alembic revision. Other databases: `initialize` itself."""

    def initialize_tables(engine: sqlalchemy.Engine) -> None:
        if engine.url.get_backend_name() != "sqlite" or engine.url.database in (None, "",
                                                                                ":memory:"):
            initialize(engine)
            return
        if not template.exists():
            built = sqlalchemy.create_engine(f"sqlite:///{template}")
            try:
                initialize(built)
            finally:
                built.dispose()
        target = engine.raw_connection()
        try:
            with closing(sqlite3.connect(template)) as source:
                source.backup(target.driver_connection)
        finally:
            target.close()

    return initialize_tables


def _no_fsync(dbapi_connection: object, _record: object) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(scope="session", autouse=True)
def sqlite_without_fsync() -> Iterator[Callable[[object, object], None]]:
    """Dagster's sqlite instance storage commits each event in a transaction of its own, and
    MLflow's sqlite stores each write: with SQLite's default `synchronous=FULL` every commit
    waits for an fsync (18.8 ms a commit on this project's 2-core machine under load, 0.16 ms
    without), thousands per pipeline run. In this process every SQLite connection made through
    SQLAlchemy skips the fsync: what a test reads and what a killed process leaves are the
    same (only an OS crash or power loss could lose the last commits: not a test's concern)."""
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _no_fsync)
    yield _no_fsync  # the hook, for a test that needs SQLite's default for a while
    sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", _no_fsync)


@pytest.fixture(scope="session", autouse=True)
def mlflow_stores_from_a_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite opens dozens of new MLflow stores; for each MLflow creates its tables and runs
    every alembic migration (~2 CPU-s). In this process they are copied from one store MLflow
    made (`copied_store_tables`; MLflow still checks them as it opens the store). Child
    processes (the CLI, servers) make theirs as usual. `make mutation` makes that store once
    for all its pytest sessions and names it in LAKEHOUSE_TEST_MLFLOW_TEMPLATE."""
    shared = os.environ.get("LAKEHOUSE_TEST_MLFLOW_TEMPLATE", "")
    template = (Path(shared) if shared and Path(shared).is_file()
                else tmp_path_factory.mktemp("mlflow_template") / "mlflow.db")
    initialize = copied_store_tables(mlflow_db._initialize_tables, template)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mlflow_db, "_initialize_tables", initialize)
        patch.setattr(mlflow_registry, "_initialize_tables", initialize)
        yield


def unset_mlflow_uris() -> None:
    """Forget MLflow's process-wide tracking and registry URIs (`mlflow.set_tracking_uri`
    keeps one in memory and exports MLFLOW_TRACKING_URI; the registry's likewise)."""
    mlflow.set_tracking_uri(None)  # also unsets MLFLOW_TRACKING_URI
    mlflow.set_registry_uri(None)
    os.environ.pop("MLFLOW_REGISTRY_URI", None)


@pytest.fixture(autouse=True, scope="module")
def own_mlflow_uris_per_file() -> Iterator[None]:
    """Set by one test file (its module fixtures rely on it: MLflow's own
    `create_model_version` of a `models:/` source reads the global URI), MLflow's URIs would
    point a later file of the same worker, and any client made there without a URI, at that
    file's store, or at a server it has stopped. Each file starts and ends with none set."""
    unset_mlflow_uris()
    yield
    unset_mlflow_uris()


@pytest.fixture(autouse=True)
def own_mlflow_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlflow.set_tracking_uri` also writes MLFLOW_TRACKING_URI into the environment, where it
    would outlive its test and reach the processes a later test starts: each test starts
    without it (and monkeypatch removes what the test leaves)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def close_writers() -> None:
    """Close this process's audit and lineage writers (each writes what it holds): call it
    before a temporary lakehouse is removed, or a writer thread writes into it meanwhile."""
    close_audit_logs()
    close_lineage_logs()


@pytest.fixture(autouse=True)
def closed_writers() -> Iterator[None]:
    """Each test's audit and lineage writers are closed when it ends: a process-wide writer
    must not outlive the temporary lakehouse it writes to."""
    yield
    close_writers()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A lakehouse under tmp_path, also exported to the environment (CLI, client defaults)."""
    root, landing = tmp_path / "lakehouse", tmp_path / "landing"
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))
    monkeypatch.setenv("LAKEHOUSE_LANDING", str(landing))
    monkeypatch.setenv("LAKEHOUSE_ENV", "dev")
    return Settings.from_env()


@pytest.fixture
def catalog(settings: Settings) -> Catalog:
    return Catalog(settings.root, settings.env)


@pytest.fixture(scope="session")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    """Small dirty demo data, generated once per session (copy it before changing it)."""
    landing = tmp_path_factory.mktemp("landing") / "landing"
    report = generate(landing, customers=120, days=DAYS, start=START, seed=11,
                      dirty_fraction=0.08, progress=False)
    return landing, report


@pytest.fixture
def landing(settings: Settings, landed: tuple[Path, GenerationReport]) -> GenerationReport:
    shutil.copytree(landed[0], settings.landing)
    return landed[1]


def materialize(
    settings: Settings, days: Sequence[str], *, domain: Domain = DOMAIN,
    instance: dg.DagsterInstance | None = None, raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Dagster's own `materialize` over `days` as one run (a single-run backfill range)."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}
    return dg.materialize(
        [*medallion_assets(domain), *feature_assets(domain, daily_partitions(domain))],
        resources={"lakehouse": LakehouseResource.from_settings(settings)},
        instance=instance, tags=tags, raise_on_error=raise_on_error,
    )


class Backfill(NamedTuple):
    settings: Settings
    catalog: Catalog
    success: bool
    events: list[dg.DagsterEvent]
    """The run's events (its `ExecuteInProcessResult.all_events`)."""

    def check_evaluations(self) -> list[dg.AssetCheckEvaluation]:
        """As `ExecuteInProcessResult.get_asset_check_evaluations`."""
        return [e.event_specific_data for e in self.events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"]

    def materializations(self, node: str) -> list[dg.AssetMaterialization]:
        """As `ExecuteInProcessResult.asset_materializations_for_node`."""
        return [e.event_specific_data.materialization for e in self.events
                if e.step_key == node and e.event_type_value == "ASSET_MATERIALIZATION"]


@pytest.fixture(scope="session")
def backfill(
    tmp_path_factory: pytest.TempPathFactory, landed: tuple[Path, GenerationReport]
) -> Backfill:
    """The `landed` data materialized (medallion and feature tables) in one run over every day
    on a Dagster instance of its own, built once per `make test` (`built_once`; its events
    kept as JSON) for the tests that only read its tables or its run (copy `settings.root`
    with `shutil.copytree` before writing)."""

    def build(folder: Path) -> None:
        shutil.copytree(landed[0], folder / "landing")
        with project_instance() as test_instance:
            result = materialize(backfill_settings(folder), day_keys(), instance=test_instance)
        (folder / "run.json").write_text(dg.serialize_value(
            {"success": result.success, "events": list(result.all_events)}))

    folder = built_once(tmp_path_factory, "backfill", build)
    run = dg.deserialize_value((folder / "run.json").read_text())
    settings = backfill_settings(folder)
    return Backfill(settings, Catalog(settings.root, settings.env), run["success"],
                    run["events"])


def backfill_settings(folder: Path) -> Settings:
    return Settings(str(folder / "lakehouse"), str(folder / "landing"), "dev",
                    f"sqlite:///{folder / 'mlflow.db'}")


PROJECT_STORAGE = yaml.safe_load((PROJECT / "dagster.yaml").read_text())["storage"]
"""The shipped `dagster.yaml`'s storage: `lakehouse_ml.dagster_storage.PoolSafeSqliteStorage`
in `$DAGSTER_HOME`."""


@contextmanager
def project_instance() -> Iterator[dg.DagsterInstance]:
    """Dagster's `instance_for_test` (a temporary `DAGSTER_HOME`, set while it is open) on the
    project's storage, as `make run` has it: one kept engine per SQLite file, where Dagster's
    default storage makes one for each event (~4.8 CPU-ms an event against ~0.5)."""
    with dg.instance_for_test(overrides={"storage": PROJECT_STORAGE}) as test_instance:
        yield test_instance


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with project_instance() as test_instance:
        yield test_instance


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], None]) -> Path:
    """The folder `name` of the session's temporary folder, filled by `build(folder)` in
    whichever test process asks first: pytest-xdist's workers share that folder, the others
    wait on a lock (`fcntl.flock`) and find it built. Read-only for its users: copy what a test
    writes to. A build that raised is removed, and tried again by the next asker."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    folder, done = shared / name, shared / f"{name}.built"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    build(folder)
                    close_lineage_logs()  # its lineage on disk before another worker reads it
                    unset_mlflow_uris()  # no later test of this worker writes into it unasked
                except BaseException:
                    shutil.rmtree(folder, ignore_errors=True)
                    raise
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


class CliResult(NamedTuple):
    """What a `CliRunner` result said (kept as JSON by `built_once` builds)."""

    exit_code: int
    stdout: str
    stderr: str
    output: str
    """stdout and stderr interleaved, as printed."""


class SmallRun(NamedTuple):
    settings: Settings
    result: CliResult
    """`lakehouse-ml run`'s result."""


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> SmallRun:
    """`lakehouse-ml generate --customers 20 --days MIN_TRAINABLE_DAYS`, then `lakehouse-ml
    run` (what `make run` runs), in a lakehouse with MLflow beside it, an ephemeral Dagster
    instance and no OpenLineage configuration (none from the environment, the working
    directory or home: events go to the file under the root). Built once per `make test`
    (`built_once`): read it only."""
    from typer.testing import CliRunner

    from lakehouse_ml.cli import app
    from lakehouse_ml.domains.churn.generator import MIN_TRAINABLE_DAYS

    def settings_in(folder: Path) -> Settings:
        return Settings(str(folder / "lakehouse"), str(folder / "landing"), "dev",
                        f"sqlite:///{folder / 'mlflow.db'}")

    def build(folder: Path) -> None:
        settings, runner = settings_in(folder), CliRunner()
        (folder / "home").mkdir(parents=True)
        with pytest.MonkeyPatch.context() as env:
            for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
                env.delenv(name)
            env.setenv("HOME", str(folder / "home"))
            env.chdir(folder)
            env.setenv("LAKEHOUSE_ROOT", settings.root)
            env.setenv("LAKEHOUSE_LANDING", settings.landing)
            env.setenv("LAKEHOUSE_ENV", settings.env)
            env.setenv("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
            env.delenv("DAGSTER_HOME", raising=False)
            generated = runner.invoke(
                app, ["generate", "--customers", "20", "--days", str(MIN_TRAINABLE_DAYS)])
            assert generated.exit_code == 0, generated.output
            result = runner.invoke(app, ["run"], prog_name="lakehouse-ml")
        close_writers()
        (folder / "result.json").write_text(json.dumps(CliResult(
            result.exit_code, result.stdout, result.stderr, result.output)._asdict()))

    folder = built_once(tmp_path_factory, "small_run", build)
    result = CliResult(**json.loads((folder / "result.json").read_text()))
    return SmallRun(settings_in(folder), result)


def history_days(today: date | None = None) -> list[str]:
    """The churn history's days: at least 101, ending yesterday (UTC), starting on a Monday.
    The generator's stream is the same from any Monday on (weekends differ) and its labels
    fall every 14 days from the start, so the data, labels and models are alike whatever the
    date the tests run: labels observed on days 0, 14, ..., 70, known 30 days later."""
    today = today or datetime.now(UTC).date()
    earliest = today - timedelta(days=101)
    start = earliest - timedelta(days=earliest.weekday())
    return day_keys(start, (today - start).days)


def history_settings(folder: Path, landing: Path, mlflow_uri: str = "") -> Settings:
    return Settings(str(folder / "lakehouse"), str(landing), "dev", mlflow_uri)


@pytest.fixture(scope="session")
def churn_history(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """300 customers (seed 5) over `history_days()`, so the data ends yesterday; medallion and
    feature tables materialized in one run; no model. Built once per `make test` (see
    `built_once`): copy `root` before writing (`history_copy`); its landing is read-only."""
    days = history_days()

    def build(folder: Path) -> None:
        generate(folder / "landing", customers=HISTORY_CUSTOMERS, days=len(days),
                 start=date.fromisoformat(days[0]), seed=HISTORY_SEED, progress=False)
        materialize(history_settings(folder, folder / "landing"), days)

    folder = built_once(tmp_path_factory, f"history-{days[0]}", build)
    return history_settings(folder, folder / "landing")


def history_copy(history: Settings, base: Path) -> Settings:
    """A private copy of a churn history's tables under `base` (same landing), with an MLflow
    store of its own there."""
    shutil.copytree(history.root, base / "lakehouse")
    return history_settings(base, Path(history.landing),
                            f"sqlite:///{base / 'mlflow' / 'mlflow.db'}")
