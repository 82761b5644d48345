"""Options mean one thing or are refused: `read` as of a time (UTC unless an offset is given,
never before the table existed, never together with `--version`), `token` names given
several times, and an MLflow tracking server that cannot be reached (one line naming it,
within seconds, not minutes)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.ml.mlflow_settings import HTTP_DEFAULTS
from lakehouse_ml.serving.tokens import TokenStore

runner = CliRunner()


def _cli(*args: str) -> Result:
    return runner.invoke(app, list(args), prog_name="lakehouse-ml")


def _one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    return line


@pytest.fixture
def orders(catalog: Catalog) -> list[datetime]:
    """silver.orders: version 0 empty, version 1 holds order 1 (a second later); the commit
    times, in UTC."""
    catalog.create_table("silver.orders", pl.Schema({"order_id": pl.Int64}), TableInfo(owner="t"))
    time.sleep(1.1)
    catalog.append("silver.orders", pl.DataFrame({"order_id": [1]}))
    history = sorted(catalog.history("silver.orders"), key=lambda e: e["version"])
    return [datetime.fromtimestamp(e["timestamp"] / 1000, UTC) for e in history]


def test_read_before_the_table_existed_names_the_table_and_its_first_commit(
    orders: list[datetime]
) -> None:
    before = (orders[0] - timedelta(days=1)).isoformat()

    line = _one_line(_cli("read", "silver.orders", "--timestamp", before), 1)

    assert line == (f"lakehouse-ml read: table dev.silver.orders did not exist at {before}: its "
                    f"first commit (version 0) is at {orders[0].isoformat()}")


def test_read_with_version_and_timestamp_is_a_usage_error(orders: list[datetime]) -> None:
    line = _one_line(_cli("read", "silver.orders", "--version", "1", "--timestamp",
                          orders[1].isoformat()), 2)

    assert "give --version or --timestamp, not both" in line


def test_a_timestamp_without_offset_is_utc_whatever_the_local_zone(
    orders: list[datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        just_before = (orders[1] - timedelta(milliseconds=300)).replace(tzinfo=None)
        naive = _cli("read", "silver.orders", "--timestamp", just_before.isoformat())
        aware = _cli("read", "silver.orders", "--timestamp", f"{just_before.isoformat()}+00:00")
        at_v1 = _cli("read", "silver.orders", "--timestamp", orders[1].replace(tzinfo=None)
                     .isoformat())
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert naive.exit_code == aware.exit_code == at_v1.exit_code == 0, naive.output
    assert naive.stdout == aware.stdout and "shape: (0, 1)" in naive.stdout
    assert "shape: (1, 1)" in at_v1.stdout
    assert "without offset is UTC" in " ".join(_cli("read", "--help").stdout.split())


def test_token_revoke_takes_several_names_and_revokes_all_or_none(catalog: Catalog) -> None:
    store = TokenStore(catalog)
    for name in ("a", "b", "c"):
        store.create(name)

    refused = _one_line(_cli("token", "revoke", "--name", "a", "--name", "zz"), 1)
    assert refused == "lakehouse-ml token revoke: no active token named 'zz': nothing revoked"
    assert set(store.active()["name"]) == {"a", "b", "c"}

    done = _cli("token", "revoke", "--name", "a", "--name", "b")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == ["revoked the token named 'a'",
                                        "revoked the token named 'b'"]
    assert set(store.active()["name"]) == {"c"}


@pytest.mark.parametrize(("args", "option"), [
    (["read", "silver.orders", "--limit", "1", "--limit", "2"], "--limit"),
    (["read", "silver.orders", "--version=0", "--version", "1"], "--version"),
    (["tables", "--json", "--json"], "--json"),
    (["rollback", "--reason", "a", "--reason", "b"], "--reason"),
    (["serve", "--port", "8080", "--port", "8081"], "--port"),
])
def test_an_option_that_takes_one_value_given_twice_is_a_usage_error(
    settings: Settings, args: list[str], option: str
) -> None:
    """click would keep the last value silently; a value that looks like an option is a
    value (`--reason --reason` is one reason)."""
    line = _one_line(_cli(*args), 2)

    assert line == (f"lakehouse-ml {args[0]}: option {option} is given more than once: give "
                    "it once (see --help)")


@pytest.mark.parametrize(("args", "code", "line"), [
    (["create", "--name", "x", "--name=y"], 2,
     "lakehouse-ml token create: option --name is given more than once: give it once (see "
     "--help)"),
    (["create", "--name", "a b"], 2,
     "lakehouse-ml token create: token name 'a b': use 1-64 letters, digits and _.@:- (starting "
     "with a letter or digit)"),
    (["create", "--name", "taken"], 1,
     "lakehouse-ml token create: an active token named 'taken' exists: revoke it first"),
    (["revoke", "--name", "nobody"], 1,
     "lakehouse-ml token revoke: no active token named 'nobody': nothing revoked"),
])
def test_token_errors_are_one_line_like_every_command(
    catalog: Catalog, args: list[str], code: int, line: str
) -> None:
    TokenStore(catalog).create("taken")

    assert _one_line(_cli("token", *args), code) == line


@pytest.fixture
def unreachable_tracking(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """MLFLOW_TRACKING_URI on a 127.0.0.1 port nobody listens on; MLflow's HTTP settings left
    to the project's defaults."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for variable in HTTP_DEFAULTS:
        monkeypatch.delenv(variable, raising=False)
    return uri


def _free_port() -> str:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return str(free.getsockname()[1])


@pytest.mark.parametrize("command", ["rollback", "serve"])
def test_an_unreachable_tracking_server_is_one_line_naming_it_within_seconds(
    unreachable_tracking: str, command: str
) -> None:
    args = ["rollback", "--reason", "x"] if command == "rollback" else [
        "serve", "--port", _free_port()]
    began = time.monotonic()

    line = _one_line(_cli(*args), 1)

    # MLflow's own settings retry for minutes (7 retries, backoff 2: over 2 minutes); the
    # bound leaves room for importing the command's modules on a busy machine
    assert time.monotonic() - began < 60, "bounded retries, not MLflow's minutes"
    assert line == (f"lakehouse-ml {args[0]}: MLflow tracking server {unreachable_tracking} "
                    "(MLFLOW_TRACKING_URI) cannot be reached: [Errno 111] Connection refused")
