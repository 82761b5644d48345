"""The guard that fails a test leaving MLflow's default store in the project root
(`tests/stray_files.py`, used by tests/conftest.py), on a stand-in root under tmp."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stray_files import StrayWatch


def test_mlflow_default_store_opened_in_this_process_is_named_with_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    watch = StrayWatch(tmp_path)
    sys.addaudithook(watch.hook)
    assert watch.check() is None
    monkeypatch.chdir(tmp_path)  # as the project root is under `make test`
    sqlite3.connect("mlflow.db").close()  # what MLflow's default URI sqlite:///mlflow.db opens

    problem = watch.check()
    assert problem is not None and f"sqlite3.connect {tmp_path / 'mlflow.db'}" in problem
    assert __file__ in problem  # the stack says which code opened it
    assert watch.check() is None  # reported once, then watched afresh


def test_a_store_left_by_a_child_process_is_named(tmp_path: Path) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"")  # there before: only a change counts
    watch = StrayWatch(tmp_path)
    subprocess.run([sys.executable, "-c", "import os; os.mkdir('mlruns')"], cwd=tmp_path,
                   check=True)
    assert watch.check() == (
        f"(or a child process, or a test running beside it on another worker) left mlruns in "
        f"{tmp_path}: MLflow's default store, relative to the working directory; give it a "
        "tracking URI under tmp")
    (tmp_path / "mlflow.db").write_bytes(b"SQLite format 3\0")
    assert "left mlflow.db in" in (watch.check() or "")


@pytest.mark.parametrize("folder", ["artifacts", "mlartifacts"])
def test_an_artifact_root_left_in_the_root_is_named(tmp_path: Path, folder: str) -> None:
    """A SQLite tracking store without an artifact root puts run artifacts beside it."""
    watch = StrayWatch(tmp_path)
    subprocess.run([sys.executable, "-c", f"import os; os.makedirs('{folder}/0a1b/artifacts')"],
                   cwd=tmp_path, check=True)
    assert f"left {folder} in {tmp_path}" in (watch.check() or "")
