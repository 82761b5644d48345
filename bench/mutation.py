"""`make mutation`: mutmut over the modules that decide correctness, a group at a time.

    python -m bench.mutation [GROUP ...]    # default: DEFAULT_GROUPS (issue 8's modules); all
    python -m bench.mutation --report       # only rewrite bench/MUTATION.md from stored results

Each group of modules is mutated against its own fast tests (GROUPS), and mutmut further runs,
per mutated function, only the tests that reached it in its stats run. Results are kept in
bench/mutation_results/ (one JSON per group, tracked by git, so groups can be run separately, on
any machine) and summarised between the markers of bench/MUTATION.md, which `--report` rewrites
from them alone (a group without a stored result is listed as not run); the explanations of the
survivors are kept by hand below them.
Settings shared by every group are in pyproject.toml's [tool.mutmut]. Needs `fork` (POSIX).
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from bench import mutation_timeouts

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "bench" / "MUTATION.md"
RESULTS = REPO / "bench" / "mutation_results"
"""One JSON per group (`store`), tracked: `report` renders bench/MUTATION.md's generated block
from these alone. Optional keys beside what `store` writes, for results converted from the
block when the run's JSON was not kept: `cpu_s_per_mutant` (as printed, when the CPU seconds
and mutants tested are not known), and a module's `run` ({seconds, finished[,
cpu_s_per_mutant]}) when its verdicts come from another run of the group than the others'."""
BEGIN, END = "<!-- mutation:begin -->", "<!-- mutation:end -->"
CHILDREN = 2
"""Mutants tested at once (the machine this was sized for has 2 cores)."""

_LAKE = ["tests/test_lake_evolution.py", "tests/test_delta_semantics.py",
         "tests/test_lake_predicates.py", "tests/test_boundaries_medallion.py",
         # changed_files, read_files, damaged_files, vacuum, purge_log called directly (their
         # other callers: test_maintenance's Dagster job, the 2-minute incremental feature tests)
         "tests/test_mutants_lake.py",
         "tests/governance/test_reproduce_hash.py::"
         "test_damaged_files_names_what_vacuum_deleted_or_a_rewrite_changed",
         # the handles kept per table (each open replays the log)
         "tests/test_lake_handles.py",
         # written_by, drop, damaged_files' footers, a commit conflict named (real writers)
         "tests/test_lake_commit_conflict.py", "tests/features/test_mutants_state.py",
         "tests/test_lake_row_groups.py",  # row groups capped where ranges are read
         *(f"tests/features/test_state_trust.py::test_{t}" for t in (
             "written_by_passes_commits_that_change_no_data_and_stops_at_one_that_does",
             "a_state_stays_trusted_after_a_vacuum_and_not_after_an_append",
             "a_state_whose_rows_are_not_those_its_record_says_is_not_used",
             "drop_deletes_a_table_whose_log_is_corrupt_so_one_can_be_created_there")),
         # 12 s (3 million rows, a writer killed mid-MERGE): Delta's atomicity, not our code's
         "--deselect=tests/test_delta_semantics.py::"
         "test_writer_killed_mid_merge_leaves_previous_version_and_rerun_converges"]
_CHECKS = "tests/test_asset_checks.py::"
_SERVING = "tests/serving/test_boundaries_serving.py::"  # its tests that need no served model
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "point-in-time": (
        ["lakehouse_ml/features/pit.py", "lakehouse_ml/features/row_lookup.py"],
        ["tests/features/test_point_in_time.py", "tests/features/test_row_lookup.py",
         "tests/features/test_boundaries_pit.py", "tests/features/test_mutants_pit.py",
         "tests/features/test_row_lookup_fast_paths.py::"
         "test_remembered_function_outputs_tell_minus_zero_from_zero"]),
    "training-table": (
        ["lakehouse_ml/features/training_table.py"],
        # the module's functions called directly; tests/test_leakage_check.py and the leakage
        # tests of test_asset_checks.py check the same through Dagster's materialize (slower)
        ["tests/features/test_mutants_training_table.py",
         f"{_CHECKS}test_leakage_counts_only_snapshot_columns_later_than_the_label_time"]),
    "medallion": (
        ["lakehouse_ml/medallion/silver.py", "lakehouse_ml/medallion/reconcile.py",
         "lakehouse_ml/medallion/gold.py"],
        ["tests/test_silver_contracts.py", "tests/test_boundaries_medallion.py",
         "tests/test_mutants_medallion.py", "tests/test_mutants_silver.py",
         "tests/test_mutants_reconcile_gold.py", "tests/test_silver_moves.py",
         "tests/test_silver_keys.py",  # refine and build_aggregate called directly
         "tests/test_gold_time_zone.py::test_an_event_date_is_its_own_day_in_any_time_zone",
         # 19 s (Great Expectations' first context); reaches no function of these modules
         "--deselect=tests/test_silver_contracts.py::"
         "test_gold_range_expectation_fails_on_nan_not_on_null"]),
    "landing": (["lakehouse_ml/ingest/landing.py"],
                ["tests/test_ingest_landing.py", "tests/test_boundaries_medallion.py",
                 "tests/test_mutants_landing.py"]),
    "lake": (["lakehouse_ml/lake/schema.py", "lakehouse_ml/lake/tables.py"], _LAKE),
    "ml": (["lakehouse_ml/ml/gates.py", "lakehouse_ml/ml/deploy.py", "lakehouse_ml/ml/train.py"],
           # the modules' functions called directly; tests/test_boundaries_ml.py checks the
           # same thresholds on a candidate trained through train_candidate (a Delta training
           # set, plots, a model card: 20 s of setup in every mutant's session)
           ["tests/test_mutants_ml.py", "tests/test_holdout.py"]),
    "online": (
        [f"lakehouse_ml/features/online/{m}.py"
         for m in ("codec", "publish", "reader", "redis_store", "sqlite_store", "store")],
        # publish and lookup on SQLite and on a redis-server started on 127.0.0.1 per session
        # (tests/features/conftest.py); left out: the hypothesis join-equality test (22 s) and
        # the publish killed by SIGKILL (a subprocess, which imports the unmutated modules)
        ["tests/features/test_online.py", "tests/features/test_row_lookup.py",
         "tests/features/test_row_lookup_fast_paths.py",  # KeyBatch.of_values' own encoding
         "tests/features/test_mutants_online.py",
         "tests/features/test_redis_races.py",  # publishes and reads interleaved at the exact point
         "tests/features/test_publish_changes.py",  # the keys a publish compares
         "tests/features/test_online_property.py::"
         "test_a_future_row_does_not_hide_the_row_valid_now",
         "tests/features/test_online_property.py::"
         "test_too_many_rows_ahead_of_the_publication_are_refused"]),
    "tokens": (["lakehouse_ml/serving/tokens.py"],
               ["tests/serving/test_mutants_tokens.py",
                f"{_SERVING}test_a_token_without_its_prefix_is_refused"]),
    "payload": (["lakehouse_ml/serving/payload.py"],
                ["tests/serving/test_mutants_payload.py",
                 f"{_SERVING}test_records_columns_are_those_of_every_row_missing_ones_null"]),
    "serving": (  # issue 10: limits, request checks, inference-log redaction, EXECUTE checks
        [f"lakehouse_ml/serving/{m}.py" for m in ("limits", "request", "redact", "authorization")],
        # called directly, no served model; left out: the 4 s hypothesis test of the credential
        # scan's fast path (tests/governance/test_audit_fast_path.py), the HTTP tests
        ["tests/serving/test_mutants_serving.py", "tests/serving/test_request_keys.py",
         "tests/serving/test_payload_abuse.py", "tests/serving/test_unknown_keys_message.py",
         "tests/serving/test_model_access.py",
         "tests/serving/test_body_bounds.py::test_unexpected_columns_are_named_cut",
         "tests/governance/test_audit_fast_path.py::"
         "test_a_remembered_name_keeps_its_rule_and_credentials_are_not_remembered"]),
    "asset-checks": (["lakehouse_ml/defs/factories/medallion.py"],
                     ["tests/test_asset_checks.py", "tests/test_mutants_asset_checks.py"]),
    "monitoring": (  # issue 12: the statistics, their windows and baseline, and the decisions
        [f"lakehouse_ml/monitoring/{m}.py"
         for m in ("drift", "profile", "cbpe", "quality", "levels", "windows", "baseline",
                   "triggers")],
        [f"tests/monitoring/test_{t}.py"
         for t in ("drift", "drift_equivalence", "drift_prepared", "profile",
                   "profile_equivalence", "cbpe", "quality", "levels", "windows", "baseline",
                   "baseline_windows", "triggers_pii", "hostile_labels",
                   "mutants_monitoring", "mutants_triggers")]),
    "access": (  # issue 13: who may do what, and what a read returns
        ["lakehouse_ml/catalog/access.py", "lakehouse_ml/governance/privileges.py",
         "lakehouse_ml/governance/principals.py", "lakehouse_ml/governance/row_column.py"],
        [f"tests/governance/test_{t}.py"
         for t in ("privileges", "principals", "row_column", "row_column_policy", "enforcement",
                   "catalog_existence", "catalog_listing_disclosure", "model_privileges",
                   "mutants_access")]),
    "erasure": (  # issue 14 item 5: what `forget` finds as the subject's, and deletes
        [f"lakehouse_ml/governance/erasure_{m}.py"
         for m in ("match", "tables", "files_lines", "online", "places")],
        # left out: test_erasure.py (trains two models: minutes), the artifact tests (MLflow;
        # they reach erasure_files_artifacts, not these modules)
        [*(f"tests/governance/test_erasure_{t}.py"
           for t in ("attack", "files", "files_property", "schema_check")),
         "tests/governance/test_mutants_erasure.py",
         "tests/governance/test_erasure_audit_allowed.py::"
         "test_a_table_held_offline_and_in_an_online_store_is_one_record",
         # 11 s (forget run three times): the same paths as the file's faster tests
         "--deselect=tests/governance/test_erasure_attack.py::"
         "test_forget_twice_and_another_subject_after_it_end_well"]),
    "domains": (  # issue 11: a domain package and its declarations are checked when loaded
        ["lakehouse_ml/domains/__init__.py", "lakehouse_ml/domains/reserved.py",
         "lakehouse_ml/medallion/spec.py", "lakehouse_ml/ml/spec.py"],
        ["tests/test_domain_validation.py", "tests/test_broken_domain.py",
         "tests/test_domain_jobs.py", "tests/test_mutants_domains.py",
         # 21 s (a whole `run` beside broken packages): its loading paths are the file's others
         "--deselect=tests/test_broken_domain.py::"
         "test_run_runs_a_healthy_domain_beside_broken_packages_and_says_what_it_left_out"]),
    "policy": (  # issues 11 and 13: what a domain's policy may declare, what the engine grants
        # a domain's pipeline, and whose rows of pipeline.progress a principal may write
        ["lakehouse_ml/governance/policy_scope.py", "lakehouse_ml/governance/domain_grants.py",
         "lakehouse_ml/catalog/owned_rows.py"],
        ["tests/governance/test_domain_scope.py", "tests/governance/test_domain_grants.py",
         "tests/governance/test_progress_rows.py",
         # domain_grants', owned_rows' and policy_scope's functions called directly (issue 13's
         # surviving mutants)
         "tests/governance/test_mutants_policy.py", "tests/governance/test_mutants_owned_rows.py",
         "tests/governance/test_mutants_policy_scope.py"]),
    "feature-state": (  # a feature builder's kept state, and the batches each table processed
        ["lakehouse_ml/features/state.py", "lakehouse_ml/medallion/progress.py"],
        # the modules' functions called directly, and progress marks through the sensors
        # domain's Dagster runs (7 s); left out: test_stale_snapshots.py (38 s) and
        # test_incremental_snapshots.py (2 minutes), which reach state.py only through
        # refresh_feature_table, test_idempotent_reruns.py and test_pipeline.py (whole pipelines)
        ["tests/features/test_mutants_state.py", "tests/test_mutants_progress.py",
         "tests/test_progress_marks.py", "tests/governance/test_progress_rows.py",
         # a kept state's trust on real Delta tables (the whole-lakehouse cases left out)
         *(f"tests/features/test_state_trust.py::test_{t}" for t in (
             "a_state_stays_trusted_after_a_vacuum_and_not_after_an_append",
             "a_state_whose_rows_are_not_those_its_record_says_is_not_used",
             "written_by_passes_commits_that_change_no_data_and_stops_at_one_that_does",
             "state_write_sorts_rows_by_the_keys_in_capped_row_groups")),
         "tests/test_redated_days.py::test_current_sources_are_those_read_as_current_versions"]),
    "feature-windows": (  # issue 15: window features from sparse per-day aggregates
        ["lakehouse_ml/features/incremental.py"],
        # its functions against a day-by-day reference (hypothesis: a few seconds per mutant);
        # left out: test_incremental_snapshots.py (2 minutes) and test_stale_snapshots.py
        # (38 s), which compare whole builders with a stateless twin
        ["tests/features/test_incremental_reference.py"]),
    "feature-snapshots": (  # issue 15: which snapshot days a refresh builds, and its writes
        ["lakehouse_ml/features/snapshots.py"],
        # its functions called directly on real Delta tables (the same two slow files left out)
        ["tests/features/test_mutants_snapshots.py",
         *(f"tests/features/test_incremental_reference.py::test_{t}" for t in (
             "snapshot_days_equal_a_set_of_wanted_days", "snapshot_days_examples",
             "check_stamps_passes_the_stamps_of_the_days", "check_stamps_refuses_a_wrong_stamp",
             "check_stamps_refuses_a_naive_column",
             "refresh_builds_chunks_and_replaces_the_days_redone",
             "refresh_writes_nothing_stamped_wrong_and_creates_an_empty_table",
             "unbuilt_names_the_partition_days_whose_snapshot_the_table_lacks"))]),
    "feature-changes": (  # issue 15: the earliest day a refresh's records touched
        ["lakehouse_ml/medallion/changes.py"],
        # its functions on real bronze/silver tables (ingest and refine called directly);
        # left out: tests/test_day_by_day_edges.py and test_pipeline.py (whole pipelines)
        ["tests/test_redated_days.py", "tests/test_silver_keys.py"]),
}
"""Group → (modules mutated together, the fast tests that exercise them: files, glob patterns,
pytest node ids, or `--deselect=<node id>` for a slow test of a listed file). Tests that build a
served model or run a whole Dagster pipeline are left out: each surviving mutant runs every test
that reached its function."""
DEFAULT_GROUPS = ("point-in-time", "training-table", "medallion", "landing", "lake", "ml",
                  "tokens", "payload", "asset-checks")
"""What `make mutation` runs when no group is named: the modules issue 8 lists (point-in-time
and lookups, silver/reconcile/gold, ingest parsing, schema enforcement, MERGE, gates and deploy,
tokens and payloads, asset checks), sized to run in under an hour on 2 cores. Every other group
(added for later issues: online, monitoring, access, ...) runs only when named
(`make mutation GROUPS="monitoring"`); `all` names every group."""

STATUS = {1: "killed", 3: "killed", 0: "survived", 33: "no tests", 5: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          None: "not run"}
COUNTED = ("killed", "survived", "timeout", "no tests", "not run", "other")
"""Verdicts counted; "not run" are the mutants left when a run is interrupted (Ctrl-C)."""


def _function_of(mutant: str) -> str:
    """`lakehouse_ml.x.y.xǁClsǁmeth__mutmut_3` → `meth`; `...x_func__mutmut_3` → `func`."""
    name = mutant.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    return name.rsplit("ǁ", 1)[1] if "ǁ" in name else name.removeprefix("x_")


def _line(module: str, function: str, removed: str) -> int | None:
    """The source line of the first line the mutant changed (searched from its function)."""
    source = Path(module).read_text()
    start = next((n.lineno for n in ast.walk(ast.parse(source))
                  if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.name == function), 1)
    lines = source.splitlines()
    for number in range(start, len(lines) + 1):
        if lines[number - 1].strip() == removed.strip():
            return number
    return None


def _survivors(module: str, codes: dict[str, int | None], status: str = "survived"
               ) -> list[dict[str, object]]:
    """The mutants of `module` whose outcome is `status` (survivors; or timeouts, a mutant that
    made a test hang: detected, but by the time limit, not by an assertion): name, function,
    line, the line removed and what replaced it."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    found = []
    for name, code in sorted(codes.items()):
        if STATUS.get(code) != status:
            continue
        diff = get_diff_for_mutant(name, path=Path(module)).splitlines()
        removed = next((d[1:] for d in diff if d.startswith("-") and not d.startswith("---")), "")
        added = [d[1:].strip() for d in diff if d.startswith("+") and not d.startswith("+++")]
        function = _function_of(name)
        found.append({"mutant": name, "function": function,
                      "line": _line(module, function, removed),
                      "removed": removed.strip(), "added": " / ".join(added)})
    return found


def _fastest_tests_first() -> None:
    """Hand each mutant's tests to the fork server fastest first (by their stats-run time), as
    mutmut's plain fork runner does and its fork-server runner does not (it keeps set order): a
    killed mutant stops at its first failing test (`-x`), so the fast tests should come first."""
    from mutmut.state import state
    from mutmut.workers.isolation import ForkServerRunner

    submit = ForkServerRunner.submit

    def submit_fastest_first(runner: ForkServerRunner, mutant: str, tests: list[str],
                             cpu_time_limit: int, estimated_time: float) -> None:
        durations = state().duration_by_test
        submit(runner, mutant, sorted(tests, key=lambda test: durations.get(test, 0.0)),
               cpu_time_limit, estimated_time)

    ForkServerRunner.submit = submit_fastest_first  # type: ignore[method-assign]


def temp_root() -> Path:
    """Where a run keeps its pytest sessions' temporary folders: RAM (`/dev/shm`) where there
    is one, so that making and removing a session's folders costs no disk I/O."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _own_basetemp(root: Path) -> None:
    """Give every pytest session mutmut starts (stats, clean and forced-fail runs, each
    mutant's worker) a `--basetemp` of its own under `root`, removed when the session ends.
    Without it each session made a numbered folder in `/tmp/pytest-of-<user>/` and, ending,
    removed that folder's numbered folders beyond the newest 3 whose lock was released: the
    folders of the workers before it, and any other pytest run's (1.2 to 4.4 CPU-s measured in
    a worker whose own test took 0.01 s, mostly deleting other runs' trees)."""
    from mutmut.runners.harness import PytestRunner

    execute = PytestRunner.execute_pytest

    def execute_in_own_basetemp(runner: PytestRunner, params: list[str], **kwargs: object
                                ) -> int:
        folder = tempfile.mkdtemp(prefix="pytest-", dir=root)
        try:
            return execute(runner, [f"--basetemp={folder}", *params], **kwargs)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    PytestRunner.execute_pytest = execute_in_own_basetemp  # type: ignore[method-assign]


MLFLOW_TEMPLATE = "LAKEHOUSE_TEST_MLFLOW_TEMPLATE"
"""The variable naming an MLflow store whose tables the tests' new stores copy
(tests/conftest.py `mlflow_stores_from_a_template`)."""


def _warm_fork_server(folder: Path) -> None:
    """After the fork server has imported the preload list, do there once what a worker that
    touches MLflow did each time (`ml`: 7 of its 12 CPU-s of fixtures):

    - fill MLflow's map of installed packages to modules (read from every installed
      distribution's file list: 4 CPU-s when a worker logs a model), as a worker's second
      model would find it; the installed packages do not change during a run;
    - make, with MLflow's own `_initialize_tables` (its tables and every alembic migration,
      2.5 CPU-s), the store `folder/mlflow-template.db` that the tests' conftest otherwise
      makes once per session, and name it in MLFLOW_TEMPLATE for the workers;
    - move what it holds into the garbage collector's permanent generation (mutmut freezes
      its main process's objects, not those its fork server imported after)."""
    from mutmut.runners.harness import PytestRunner

    warm_up = PytestRunner.warm_up

    def warmed(runner: PytestRunner) -> None:
        warm_up(runner)
        import mlflow.store.db.utils as mlflow_db
        import sqlalchemy
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
        template = folder / "mlflow-template.db"
        engine = sqlalchemy.create_engine(f"sqlite:///{template}")
        try:
            mlflow_db._initialize_tables(engine)
        finally:
            engine.dispose()
        os.environ[MLFLOW_TEMPLATE] = str(template)
        gc.collect()
        gc.freeze()  # the workers' collections skip (and do not copy) what the server holds

    PytestRunner.warm_up = warmed  # type: ignore[method-assign]


class _MutantCpu:
    """CPU seconds (user + system) of the fork server and every worker it forked, i.e. of
    testing the mutants, without mutant generation and the stats, clean and forced-fail runs:
    read from this process's children's usage when the fork server starts and after mutmut
    has reaped it."""

    seconds: float | None = None
    tested = 0
    """Mutants handed to the fork server (those of functions no test reached are not)."""

    @classmethod
    def install(cls) -> None:
        from mutmut.workers.isolation import ForkServerRunner

        startup, shutdown = ForkServerRunner.startup, ForkServerRunner.shutdown
        submit = ForkServerRunner.submit
        before: list[float] = []

        def used() -> float:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime

        def measured_startup(runner: ForkServerRunner) -> None:
            before.append(used())
            startup(runner)

        def measured_shutdown(runner: ForkServerRunner) -> None:
            shutdown(runner)
            if before:
                cls.seconds = used() - before[0]

        def counted_submit(runner: ForkServerRunner, mutant: str, tests: list[str],
                           *args: object) -> None:
            cls.tested += bool(tests)
            submit(runner, mutant, tests, *args)

        ForkServerRunner.startup = measured_startup  # type: ignore[method-assign]
        ForkServerRunner.submit = counted_submit  # type: ignore[method-assign]
        ForkServerRunner.shutdown = measured_shutdown  # type: ignore[method-assign]


def _mutate(group: str, tests: list[str]) -> None:
    """In a child process: run mutmut on the group's modules against `tests`, store results.
    SIGINT or SIGTERM to this process stops the run and stores what was tested (a shell that
    starts it in the background sets SIGINT to ignored, so it is restored here).

    Bytecode caches are written (whatever PYTHONDONTWRITEBYTECODE says): without them every
    worker compiled the project's modules it imports and pytest rewrote the asserts of every
    test module and conftest again (about 1 CPU-s a worker); with them the first worker writes
    them under mutants/ and the others load them (Python checks each against its source's
    mtime and size, so a module mutmut rewrites is compiled again)."""
    from mutmut import __main__ as mutmut_main
    from mutmut.configuration import config

    sys.dont_write_bytecode = False
    settings = config()
    settings.only_mutate = GROUPS[group][0]
    settings.pytest_add_cli_args_test_selection = tests
    _fastest_tests_first()
    _require_reached(group)
    _MutantCpu.install()
    mutation_timeouts.install()
    temporary = Path(tempfile.mkdtemp(prefix="mutation-", dir=temp_root()))
    _warm_fork_server(temporary)
    _own_basetemp(temporary)
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    started = time.monotonic()
    try:
        mutmut_main._run([], max_children=CHILDREN)
    except SystemExit as stop:  # mutmut exits on a failing clean run or an unusable selection
        if stop.code:
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    if _MutantCpu.seconds is not None and _MutantCpu.tested:
        print(f"    {group}: {_MutantCpu.tested} mutants tested in {_MutantCpu.seconds:.0f} "
              f"CPU-s, {_MutantCpu.seconds / _MutantCpu.tested:.2f} CPU-s each", flush=True)
    store(group, tests, round(time.monotonic() - started), _MutantCpu.seconds,
          _MutantCpu.tested)


def store(group: str, tests: list[str], seconds: int, mutant_cpu: float | None = None,
          tested: int = 0) -> None:
    """Write the verdicts mutmut left in mutants/ for the group's modules to its report JSON
    (RESULTS/<group>.json, tracked: commit it with bench/MUTATION.md);
    `mutant_cpu`: the CPU seconds of testing the `tested` mutants (`_MutantCpu`), if measured."""
    from mutmut.mutation.data import SourceFileMutationData

    result = {"group": group, "tests": tests, "seconds": seconds,
              "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "modules": {}}
    if mutant_cpu is not None:
        result["mutant_cpu_seconds"], result["mutants_tested"] = round(mutant_cpu, 1), tested
    for module in GROUPS[group][0]:
        data = SourceFileMutationData(path=Path(module))
        data.load()
        counts = dict.fromkeys(COUNTED, 0)
        for code in data.exit_code_by_key.values():
            counts[STATUS.get(code, "other")] += 1
        result["modules"][module] = {
            "counts": counts, "survivors": _survivors(module, data.exit_code_by_key),
            "timeouts": _survivors(module, data.exit_code_by_key, "timeout")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{group}.json").write_text(json.dumps(result, indent=1))


_PROBE = """import glob, importlib, sys
for module in sys.argv[1:]:
    importlib.import_module(module)
print(*{open(task).read().strip() for task in glob.glob("/proc/self/task/*/comm")})"""


def check_preload() -> None:
    """Stop before a run if importing the fork server's preload list starts polars' thread pool
    (threads `polars-0`, `polars-1`, …): every worker forked from it would deadlock, and mutmut
    would count each mutant as a timeout, i.e. killed."""
    from mutmut.configuration import config

    listed = Path(config().preload_modules_file or "").read_text().splitlines()
    modules = [line.strip() for line in listed if line.strip() and not line.startswith("#")]
    threads = subprocess.run([sys.executable, "-c", _PROBE, *modules], check=True, text=True,
                             capture_output=True).stdout.split()
    if any(re.fullmatch(r"polars-\d+", thread) for thread in threads):
        raise SystemExit("importing the modules of preload_modules_file starts polars' thread "
                         "pool: fork-server workers would deadlock. Remove the module that starts "
                         "it (bisect the list) and let each worker import it.")


def _drop_stale(modules: list[str]) -> None:
    """Remove from mutants/ what would make a group's run test stale code, and keep what lets
    it resume. mutmut copies a source file there only if no copy exists, so every copy whose
    source changed or went since it was made is removed (the other modules the tests import
    would be old code), and so is a group module's plain copy left by another group's run (it
    holds no mutants, even when a `.meta` of an earlier run of this group lies beside it:
    mutmut would call the module "unmodified" and find no mutant to test). The stats go too:
    mutmut reuses a test's stats of an earlier run, which recorded only the functions mutated
    then (this group's would be *no tests*).

    A group module's mutated copy without its verdicts (`<module>.meta` removed to start the
    module afresh) is removed: mutmut would find it mutated already, make no verdicts file and
    test none of its mutants. A group module's verdicts are kept: mutmut keeps those of
    functions whose code is unchanged and tests only the rest, so a run stopped for time
    resumes where it stopped. Its *survived* and *no tests* verdicts are cleared, so they are
    tested again against the tests added since. A copied data file (a domain's `policy.yaml`)
    that differs from its source, or whose source went, is removed too: mutmut copies a file
    only where none is, and tests would load the old one."""
    mutants = Path("mutants")
    (mutants / "mutmut-stats.json").unlink(missing_ok=True)
    for copy in (mutants / "lakehouse_ml").rglob("*.py"):
        source = copy.relative_to(mutants)
        plain = (str(source) in modules and source.exists()
                 and copy.read_bytes() == source.read_bytes())
        if plain or not source.exists() or source.stat().st_mtime >= copy.stat().st_mtime:
            copy.unlink()
    for copy in (mutants / "lakehouse_ml").rglob("*"):  # package data (policy files, ...)
        source = copy.relative_to(mutants)
        if (copy.is_file() and copy.suffix not in (".py", ".pyc", ".meta", ".spans")
                and (not source.is_file() or copy.read_bytes() != source.read_bytes())):
            copy.unlink()
    for module in modules:
        meta = mutants / (module + ".meta")
        if not meta.exists():  # mutmut would take the mutated copy for done and test nothing
            (mutants / module).unlink(missing_ok=True)
        else:
            data = json.loads(meta.read_text())
            codes = data["exit_code_by_key"]
            data["exit_code_by_key"] = {k: None if STATUS.get(c) in ("survived", "no tests")
                                        else c for k, c in codes.items()}
            meta.write_text(json.dumps(data, indent=4))


def selected_tests(group: str) -> list[str]:
    """The group's tests as pytest arguments: the files its patterns match (sorted), then its
    node ids, then its `--deselect=` arguments. SystemExit naming the group and the first
    pattern whose file matches nothing (a test file renamed, or listed before it was written):
    left out silently, the run would test the mutants against fewer tests than it says."""
    files: set[str] = set()
    nodes, deselected = [], []
    for pattern in GROUPS[group][1]:
        target = pattern.removeprefix("--deselect=")
        path = target.partition("::")[0]
        matched = {str(found) for found in Path().glob(path)}
        if not matched:
            raise SystemExit(f"{group}: {path} (bench/mutation.py GROUPS) matches no test file")
        if pattern.startswith("--deselect="):
            deselected.append(pattern)
        elif "::" in pattern:
            nodes.append(pattern)
        else:
            files |= matched
    return [*sorted(files), *nodes, *deselected]


def unreached(group: str, functions: set[str], tests_by_function: Mapping[str, set[str]]
              ) -> list[str]:
    """The mutated `functions` (mutmut's mangled names) no test reached in the stats run,
    sorted. SystemExit, one line naming the group, when no test reached any of them: every
    mutant would be counted *no tests* (the group's tests do not call its modules, or call
    another copy of them)."""
    missed = sorted(f for f in functions if not tests_by_function.get(f))
    if functions and len(missed) == len(functions):
        raise SystemExit(f"{group}: the stats run reached none of the {len(functions)} mutated "
                         f"functions of {' '.join(GROUPS[group][0])} with the group's tests")
    return missed


def _require_reached(group: str) -> None:
    """After mutmut's stats run, stop the group if its tests reached no mutated function, and
    print the functions they did not reach: mutmut counts their mutants *no tests* first, in
    an instant, and only then tests the others (slowest last), so a run watched for its first
    minutes seems to find no tests at all."""
    from mutmut import __main__ as mutmut_main
    from mutmut.state import state
    from mutmut.utils.format_utils import mangled_name_from_mutant_name

    check = mutmut_main._check_test_to_mutant_associations

    def checked(data_by_path: dict) -> None:
        check(data_by_path)
        functions = {mangled_name_from_mutant_name(name) for data in data_by_path.values()
                     for name in data.exit_code_by_key}
        missed = unreached(group, functions, state().tests_by_mangled_function_name)
        print(f"    {len(functions) - len(missed)} of {len(functions)} mutated functions "
              f"reached by the tests; not reached: {', '.join(missed) or 'none'}", flush=True)

    mutmut_main._check_test_to_mutant_associations = checked


def run(group: str) -> None:
    """Mutate the group's modules afresh in a child process (mutmut's settings are global).
    SystemExit, naming the group, when the child stops with an error."""
    modules = GROUPS[group][0]
    tests = selected_tests(group)
    _drop_stale(modules)
    print(f"== {group}: {' '.join(modules)} against {' '.join(tests)}", flush=True)
    child = subprocess.Popen([sys.executable, "-m", "bench.mutation",
                              *child_arguments(group, tests)])
    try:
        code = child.wait()
    except KeyboardInterrupt:  # Ctrl-C or `timeout -s INT` reached the child too: let it store
        child.wait()  # what it tested (subprocess.run would SIGKILL it here, storing nothing)
        raise
    if code:
        raise SystemExit(f"{group}: its mutmut run stopped with exit status {code} (its reason "
                         "is printed above)")


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else ""


def _per_mutant(result: Mapping[str, object]) -> str:
    """A group report's CPU-s per mutant tested, to 2 places; "" when not measured. Without the
    CPU seconds and mutants tested, the `cpu_s_per_mutant` printed before (converted results)."""
    seconds, tested = result.get("mutant_cpu_seconds"), result.get("mutants_tested")
    if isinstance(seconds, int | float) and tested:
        return f"{seconds / tested:.2f}"
    printed = result.get("cpu_s_per_mutant")
    return f"{printed:.2f}" if isinstance(printed, int | float) else ""


def stored_results() -> dict[str, dict]:
    """Every group's stored result in RESULTS, by group name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}


def report(command: str) -> None:
    """Rewrite the generated part of bench/MUTATION.md from the results in RESULTS, every group
    of GROUPS (and any other stored) by name; a group of GROUPS without a stored result gets a
    row per module saying so, rather than vanishing from the report."""
    stored = stored_results()
    names = sorted(set(GROUPS) | set(stored))
    text = REPORT.read_text() if REPORT.exists() else f"# Mutation testing\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    total = dict.fromkeys(COUNTED, 0)
    lines = [f"Last run: `{command}`, {CHILDREN} mutants at a time; seconds (wall) and CPU-s per "
             "mutant (the fork server and its workers, over the mutants tested: blank where the "
             "run predates its measurement) are per group.", "",
             "| group | module | " + " | ".join(COUNTED) + " | seconds | CPU-s per mutant | "
             "finished |", "|---|---|" + "---|" * len(COUNTED) + "---|---|---|"]
    survivors = ["", "Survivors (each is killed by a named test, or explained, below):", "",
                 "| module | line | function | original | mutant |", "|---|---|---|---|---|"]
    timeouts = ["", "Timeouts (a test hung on the mutant until the time limit; named since "
                "the reports record them, earlier runs' are not):", "",
                "| module | line | function | original | mutant |", "|---|---|---|---|---|"]
    runs: set[tuple[str, int, str]] = set()  # (group, seconds, finished): summed once each
    tested = []
    for name in names:
        if name not in stored:
            note = "not run: no stored result"
            lines += ["| " + " | ".join([name, module, *[""] * (len(COUNTED) + 2), note]) + " |"
                      for module in GROUPS[name][0]]
            tested.append(f"- {name}: not run")
            continue
        r = stored[name]
        for module, m in r["modules"].items():
            run = m.get("run", r)  # a module's verdicts from another run of the group
            runs.add((name, run["seconds"], run["finished"]))
            lines.append(f"| {r['group']} | {module} | "
                         + " | ".join(str(m["counts"][c]) for c in COUNTED)
                         + f" | {run['seconds']} | {_per_mutant(run)} | {run['finished']} |")
            total = {c: total[c] + m["counts"][c] for c in COUNTED}
            survivors += [_mutant_row(module, s) for s in m["survivors"]]
            timeouts += [_mutant_row(module, s) for s in m.get("timeouts", [])]
        tested.append(f"- {r['group']}: " + ", ".join(f"`{t}`" for t in r["tests"]))
    lines.append("| **total** | | " + " | ".join(str(total[c]) for c in COUNTED)
                 + f" | {sum(seconds for _, seconds, _ in runs)} | | |")
    lines += [*survivors, *timeouts, "", "Tests per group:", "", *tested]
    REPORT.write_text(f"{head}{BEGIN}\n" + "\n".join(lines) + f"\n{END}{tail}")


def _mutant_row(module: str, mutant: dict[str, object]) -> str:
    return (f"| {module} | {mutant['line'] or '?'} | {mutant['function']} | "
            f"{_cell(str(mutant['removed']))} | {_cell(str(mutant['added']))} |")


def child_arguments(group: str, tests: list[str]) -> list[str]:
    """The command-line arguments of the child process that mutates `group` against `tests`;
    `--` keeps a `--deselect=<node id>` among the tests from being read as an option."""
    return ["--child", "--", group, *tests]


def parser() -> argparse.ArgumentParser:
    """The command line of `python -m bench.mutation` (and of its child processes)."""
    parsed = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parsed.add_argument("groups", nargs="*",
                        help=f"groups to run (default: {' '.join(DEFAULT_GROUPS)}; 'all': every "
                             f"group of {' '.join(GROUPS)})")
    parsed.add_argument("--report", action="store_true", help="only rewrite bench/MUTATION.md")
    parsed.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parsed


def groups_to_run(named: list[str]) -> list[str]:
    """The groups a command line names, in its order; none named: DEFAULT_GROUPS; `all`: every
    group of GROUPS. SystemExit naming an unknown group and the choices."""
    if not named:
        return list(DEFAULT_GROUPS)
    if named == ["all"]:
        return list(GROUPS)
    unknown = [g for g in named if g not in GROUPS]
    if unknown:
        raise SystemExit(f"unknown group(s) {unknown}: choose from {list(GROUPS)} or all")
    return named


def main() -> None:
    args = parser().parse_args()
    os.chdir(REPO)
    if args.child:
        return _mutate(args.groups[0], args.groups[1:])
    chosen = groups_to_run(args.groups)
    if not args.report:
        check_preload()
        try:
            for group in chosen:
                run(group)
        except KeyboardInterrupt:
            print("stopped: the groups not reached are not run", flush=True)
    report(" ".join(["python -m bench.mutation", *args.groups]))


if __name__ == "__main__":
    main()
