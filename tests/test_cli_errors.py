"""Mistaken `lakehouse-ml` calls: one line naming the problem, exit 2 for a usage error and 1
for a failure; a traceback only with `--debug` (through typer's runner and the real script)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings

runner = CliRunner()
SCRIPT = Path(sys.executable).parent / "lakehouse-ml"

MISTAKES = [  # arguments, exit code, words the one line must hold
    (["history", "silver.orderz"], 1, ["dev.silver.orderz", "does not exist"]),
    (["read", "silver.orders", "--version", "99"], 1, ["no version 99", "latest is 1"]),
    (["read", "silver/../../etc"], 2, ["invalid table name", "silver/../../etc"]),
    (["read", "silver.orders\n"], 2, ["invalid table", "orders\\n"]),
    (["read", "silver.orders", "--timestamp", "yesterday"], 2, ["isoformat", "yesterday"]),
    (["read", "silver.orders", "--limit", "-3"], 2, ["--limit", "-3"]),
    (["read"], 2, ["Missing argument", "NAME"]),
    (["tables", "--jsn"], 2, ["No such option", "--jsn"]),
    (["history", "silver.orders", "--version", "2"], 2, ["No such option", "--version"]),
    (["generate", "--start", "2026-02-30"], 2, ["generate", "--start", "2026-02-30"]),
    (["generate", "--customers", "-5"], 2, ["--customers", "must be at least 1 (got -5)"]),
    (["generate", "--next-day"], 1, ["has no demo data yet"]),
    (["rollback", "--reason", "x", "--model", "nope"], 2, ["unknown model 'nope'"]),
    (["no-such-command"], 2, ["No such command", "no-such-command"]),
    (["run", "--start", "2026-11-29", "--end", "2026-11-01"], 2,
     ["--start 2026-11-29 is after --end 2026-11-01"]),
    (["run", "--start", "2026-13-01"], 2, ["--start '2026-13-01' is not a day"]),
    (["serve", "--port", "99999"], 2, ["--port", "99999", "1<=x<=65535"]),
    (["serve", "--port", "-1"], 2, ["--port", "-1", "1<=x<=65535"]),
    (["serve", "--port", "0"], 2, ["--port", "0", "1<=x<=65535"]),
    (["serve", "--host", "192.0.2.1", "--port", "8080"], 1,  # an address not on this machine
     ["cannot listen on 192.0.2.1:8080", "assign requested address"]),
    (["serve", "--host", "no-such-host.invalid"], 1, ["cannot listen on no-such-host.invalid"]),
]


@pytest.fixture
def orders(settings: Settings, catalog: Catalog) -> Settings:
    catalog.create_table("silver.orders", pl.Schema({"order_id": pl.Int64}), TableInfo(owner="t"))
    catalog.append("silver.orders", pl.DataFrame({"order_id": [1, 2]}))
    return settings


@pytest.mark.parametrize(("args", "code", "words"), MISTAKES,
                         ids=[" ".join(m[0]) for m in MISTAKES])
def test_a_mistaken_call_prints_one_line_and_its_exit_code(
    orders: Settings, args: list[str], code: int, words: list[str]
) -> None:
    result = runner.invoke(app, args, prog_name="lakehouse-ml")

    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in result.output


def test_serve_on_a_port_in_use_is_one_line_before_loading_models(orders: Settings) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)], prog_name="lakehouse-ml")

    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"lakehouse-ml serve: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_an_invalid_environment_is_one_line(orders: Settings, monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_ENV", "dev/../../x")

    result = runner.invoke(app, ["tables"], prog_name="lakehouse-ml")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "lakehouse-ml tables: invalid LAKEHOUSE_ENV 'dev/../../x': it names the catalog, so "
        "use lowercase letters, digits and '_', starting with a letter, at most 128 characters"]


def test_the_real_script_prints_one_line_and_a_traceback_only_with_debug(orders: Settings) -> None:
    env = {**os.environ, "LAKEHOUSE_ROOT": orders.root, "LAKEHOUSE_ENV": orders.env}

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                              env={**env, **extra})

    plain = run("history", "silver.orderz")
    debug = run("--debug", "history", "silver.orderz")
    by_env = run("history", "silver.orderz", LAKEHOUSE_DEBUG="1")

    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.splitlines() == [
        f"lakehouse-ml history: table dev.silver.orderz does not exist (expected at "
        f"{orders.root}/dev/silver/orderz)"]
    for traced in (debug, by_env):
        assert traced.returncode == 1
        assert "Traceback" in traced.stderr and "TableNotFound" in traced.stderr
        assert len(traced.stderr.splitlines()) > 5
