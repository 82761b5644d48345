"""Delta behaviour through the catalog: enforcement, evolution, time travel, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, InvalidTableName, TableInfo, TableNotFound
from lakehouse_ml.lake import SchemaMismatchError

SCHEMA = pl.Schema({"id": pl.Int64, "amount": pl.Float64, "note": pl.String})
INFO = TableInfo(owner="team:test", comment="orders", column_tags={"note": ["pii"]})


@pytest.fixture
def orders(catalog: Catalog) -> Catalog:
    catalog.create_table("silver.orders", SCHEMA, INFO)
    catalog.append("silver.orders", pl.DataFrame({"id": [1, 2], "amount": [1.0, 2.0],
                                                  "note": ["a", "b"]}))
    return catalog


def test_table_lives_at_root_env_schema_name(orders: Catalog, settings) -> None:
    assert orders.location("silver.orders") == f"{settings.root}/dev/silver/orders"
    assert Path(settings.root, "dev", "silver", "orders", "_delta_log").is_dir()
    described = orders.describe("dev.silver.orders")
    assert described.info.owner == "team:test"
    assert described.info.column_tags == {"note": ["pii"]}


@pytest.mark.parametrize("bad", ["silver/../x", "silver.", ".orders", "a.b.c.d", "Silver.x",
                                 "silver.or ders", "", "../etc.passwd"])
def test_names_that_could_escape_the_root_are_refused(catalog: Catalog, bad: str) -> None:
    with pytest.raises(InvalidTableName, match="invalid"):
        catalog.location(bad)


def test_incompatible_type_change_names_table_and_column(orders: Catalog) -> None:
    with pytest.raises(SchemaMismatchError, match=r"dev\.silver\.orders.*'amount'"):
        orders.append("silver.orders", pl.DataFrame({"id": [3], "amount": ["lots"]}))
    assert orders.version("silver.orders") == 1


def test_new_column_needs_explicit_evolution(orders: Catalog) -> None:
    extra = pl.DataFrame({"id": [3], "amount": [3.0], "note": ["c"], "channel": ["web"]})
    with pytest.raises(SchemaMismatchError, match="channel"):
        orders.append("silver.orders", extra)

    orders.append("silver.orders", extra, evolve=True)

    table = orders.read("silver.orders").sort("id")
    assert table.columns == ["id", "amount", "note", "channel"]
    assert table["channel"].to_list() == [None, None, "web"]


def test_lossless_widening_and_missing_columns_are_accepted(orders: Catalog) -> None:
    orders.append("silver.orders", pl.DataFrame({"id": pl.Series([3], dtype=pl.Int32)}))
    assert orders.read("silver.orders").filter(pl.col("id") == 3)["amount"].to_list() == [None]


def test_time_travel_by_version_and_timestamp_and_history(orders: Catalog) -> None:
    between = datetime.now(UTC)
    time.sleep(0.05)
    orders.merge("silver.orders", pl.DataFrame({"id": [2, 3], "amount": [20.0, 3.0],
                                               "note": ["B", "c"]}), keys=["id"])

    assert orders.read("silver.orders", version=1).sort("id")["amount"].to_list() == [1.0, 2.0]
    assert orders.read("silver.orders", version=between).height == 2
    assert orders.read("silver.orders").sort("id")["amount"].to_list() == [1.0, 20.0, 3.0]
    operations = [h["operation"] for h in orders.history("silver.orders")]
    assert operations[0] == "MERGE" and "WRITE" in operations


def test_timestamp_travel_uses_the_commit_times_history_shows(orders: Catalog) -> None:
    """A time read from `history` selects that commit, even when the log files' modification
    times are later (as after a copy of the table, or a write that crossed a millisecond)."""
    location = Path(orders.location("silver.orders"))
    for log in (location / "_delta_log").glob("*.json"):
        os.utime(log, (time.time() + 60, time.time() + 60))
    committed = {e["version"]: datetime.fromtimestamp(e["timestamp"] / 1000, UTC)
                 for e in orders.history("silver.orders")}

    assert orders.read("silver.orders", version=committed[1]).height == 2
    assert orders.read("silver.orders", version=committed[1].replace(tzinfo=None)).height == 2
    assert orders.read("silver.orders", version=committed[0]).height == 0
    with pytest.raises(ValueError, match="silver/orders has no version committed"):
        orders.read("silver.orders", version=committed[0] - timedelta(milliseconds=1))


def test_unknown_table_is_a_clear_error(catalog: Catalog) -> None:
    with pytest.raises(TableNotFound, match="dev.silver.nothing"):
        catalog.read("silver.nothing")


MERGE_SCRIPT = textwrap.dedent("""
    import sys, pathlib, polars as pl
    from lakehouse_ml.catalog import Catalog
    catalog = Catalog(sys.argv[1], "dev")
    update = pl.DataFrame({"id": pl.int_range(0, 3_000_000, eager=True),
                           "amount": pl.repeat(2.0, 3_000_000, eager=True),
                           "note": pl.repeat("new", 3_000_000, eager=True)})
    pathlib.Path(sys.argv[2]).touch()
    catalog.merge("silver.big", update, keys=["id"])
""")


def test_writer_killed_mid_merge_leaves_previous_version_and_rerun_converges(
    catalog: Catalog, settings, tmp_path: Path
) -> None:
    rows = 3_000_000
    catalog.create_table("silver.big", SCHEMA, INFO)
    catalog.append("silver.big", pl.DataFrame({
        "id": pl.int_range(0, rows, eager=True), "amount": pl.repeat(1.0, rows, eager=True),
        "note": pl.repeat("old", rows, eager=True)}))
    before = catalog.version("silver.big")
    started = tmp_path / "merge-started"

    writer = subprocess.Popen([sys.executable, "-c", MERGE_SCRIPT, settings.root, str(started)])
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    os.kill(writer.pid, signal.SIGKILL)
    assert writer.wait(timeout=30) == -signal.SIGKILL

    assert catalog.version("silver.big") == before
    table = catalog.read("silver.big")
    assert table.height == rows and table["note"].unique().to_list() == ["old"]

    subprocess.run([sys.executable, "-c", MERGE_SCRIPT, settings.root, str(started)],
                   check=True, timeout=300)
    table = catalog.read("silver.big")
    assert table.height == rows and table["note"].unique().to_list() == ["new"]


def test_an_appender_keeps_up_with_other_writers_and_enforces_the_schema(orders: Catalog
                                                                        ) -> None:
    append = orders.appender("silver.orders")
    row = pl.DataFrame({"id": [3], "amount": [3.0], "note": ["c"]})
    assert append(row) == 2
    orders.append("silver.orders", row.with_columns(id=pl.lit(4)))  # another writer: v3
    assert append(row.with_columns(id=pl.lit(5))) == 4 == orders.version("silver.orders")
    assert orders.read("silver.orders")["id"].sort().to_list() == [1, 2, 3, 4, 5]
    with pytest.raises(SchemaMismatchError, match=r"dev\.silver\.orders.*'amount'"):
        append(pl.DataFrame({"id": [6], "amount": ["lots"]}))


def test_optimize_z_orders_a_partitioned_table_by_its_other_columns(catalog: Catalog) -> None:
    """Delta refuses to Z-order by a partition column ('Z-order columns cannot be partition
    columns'): the weekly maintenance Z-orders feature tables by key and timestamp, and feature
    tables are partitioned by their timestamp."""
    catalog.create_table("gold.snapshots", pl.Schema({"k": pl.Int64, "day": pl.Date,
                                                      "v": pl.Float64}),
                         TableInfo(owner="t"), partition_by=["day"])
    days = [datetime(2026, 3, d, tzinfo=UTC).date() for d in (1, 2)]
    for n in range(3):  # three small files per partition
        catalog.append("gold.snapshots", pl.DataFrame(
            {"k": [3 - n, n], "day": days, "v": [n / 2, n / 3]}))
    before = catalog.read("gold.snapshots").sort("k", "day", "v")

    by_partition_only = catalog.optimize("gold.snapshots", ["day"])
    assert by_partition_only["numFilesRemoved"] == 6 and by_partition_only["numFilesAdded"] == 2
    catalog.append("gold.snapshots", pl.DataFrame({"k": [9], "day": days[:1], "v": [0.0]}))
    z_ordered = catalog.optimize("gold.snapshots", ["k", "day"])

    assert z_ordered["numFilesRemoved"] == 3  # Z-order rewrites every partition's files
    after = catalog.read("gold.snapshots").sort("k", "day", "v")
    assert after.equals(pl.concat([before, pl.DataFrame(
        {"k": [9], "day": days[:1], "v": [0.0]})]).sort("k", "day", "v"))
