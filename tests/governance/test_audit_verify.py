"""`lakehouse-ml audit verify` on a log tampered with at the lake level, and `audit show`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance.audit_chain import SCHEMA, TABLE, record_hash
from lakehouse_ml.lake import Lake
from tests.governance.audit_support import cli, rows, write, writer


def tamper(catalog: Catalog, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    """Rewrite the whole table with delta-rs, as someone with storage access could."""
    Lake().overwrite(catalog.location(TABLE), change(rows(catalog)), label=TABLE)


def rehashed(frame: pl.DataFrame, index: int) -> pl.DataFrame:
    """`frame` with row `index`'s hash recomputed over its (edited) contents."""
    records = frame.to_dicts()
    records[index]["hash"] = record_hash(records[index])
    return pl.DataFrame(records, schema=SCHEMA)


def edit_user(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(user_identity=pl.when(pl.col("sequence") == 3)
                              .then(pl.struct(email=pl.lit("mallory")))
                              .otherwise("user_identity"))


def forge(frame: pl.DataFrame) -> pl.DataFrame:
    """A record claiming sequence 3, chained to 2 and hashed correctly, inserted."""
    forged = frame.filter(pl.col("sequence") == 3).with_columns(
        action_name=pl.lit("updatePermissions"))
    return pl.concat([frame.filter(pl.col("sequence") <= 2),
                      rehashed(forged, 0), frame.filter(pl.col("sequence") >= 3)])


def swap(frame: pl.DataFrame) -> pl.DataFrame:
    """Records 2 and 3 exchange places (each takes the other's sequence)."""
    return frame.with_columns(sequence=pl.col("sequence").replace({2: 3, 3: 2}))


@pytest.mark.parametrize(("change", "sequence", "what"), [
    (edit_user, 3, "hash does not match the record's contents (edited)"),
    (lambda f: rehashed(edit_user(f), 2), 4, "prev_hash"),  # edited and re-hashed
    (forge, 3, "duplicated: a record was inserted"),
    (lambda f: f.filter(pl.col("sequence") != 3), 4, "gap after 2: a record was deleted"),
    (swap, 2, "prev_hash"),
    (lambda f: f.filter(pl.col("sequence") <= 4), 5, "tail truncated"),
    (lambda f: f.clear(), 1, "tail truncated"),
], ids=["edit", "edit-rehash", "insert", "delete", "reorder", "truncate", "empty"])
def test_verify_names_the_first_broken_link(
        catalog: Catalog, change: Callable[[pl.DataFrame], pl.DataFrame], sequence: int,
        what: str) -> None:
    write(catalog, 6)
    assert cli("audit", "verify").exit_code == 0
    tamper(catalog, change)
    result = cli("audit", "verify")
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"audit chain broken at sequence {sequence}: ")
    assert what in line


def test_verify_an_intact_log(catalog: Catalog) -> None:
    write(catalog, 3)
    write(catalog, 2)
    result = cli("audit", "verify")
    assert result.exit_code == 0
    assert result.stdout.startswith("audit chain intact: 5 records, head "
                                    f"{rows(catalog)['hash'][-1]}")


def test_verify_never_passes_vacuously(catalog: Catalog) -> None:
    absent = cli("audit", "verify")
    assert (absent.exit_code, absent.stderr.split(":")[0]) == (3, "nothing to verify")
    catalog.create_table(TABLE, SCHEMA, TableInfo(owner="x"))
    empty = cli("audit", "verify")
    assert empty.exit_code == 3 and "has no records" in empty.stderr


def test_verify_a_dropped_table(catalog: Catalog) -> None:
    write(catalog, 2)
    Lake().table(catalog.location(TABLE)).delete()  # remove every row, table kept
    assert cli("audit", "verify").exit_code == 1
    shutil.rmtree(catalog.location(TABLE))
    result = cli("audit", "verify")
    assert result.exit_code == 1 and "is gone" in result.stderr


def test_show_filters(catalog: Catalog) -> None:
    with writer(catalog) as log:
        log.record(user="alice", service="unityCatalog", action="getTable",
                   params={"securable": "dev.silver.customers"})
        log.record(user="bob", service="unityCatalog", action="getTable",
                   params={"securable": "dev.silverx.t"})
        log.record(user="alice", service="unityCatalog", action="updatePermissions",
                   params={"securable": "dev.silver"}, status_code=403, error="denied")
        log.record(user="bob", service="serving", action="createToken", params={"x": "y"})

    def shown(*args: str) -> list[int]:
        result = cli("audit", "show", "--json", *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["sequence"] for line in result.stdout.splitlines()]

    assert shown() == [1, 2, 3, 4]
    assert shown("--principal", "alice") == [1, 3]
    assert shown("--action", "getTable") == [1, 2]
    assert shown("--securable", "dev.silver") == [1, 3]
    assert shown("--securable", "dev.silver.customers") == [1]
    assert shown("--principal", "bob", "--action", "createToken") == [4]
    assert shown("--limit", "2") == [3, 4]
    assert shown("--since", "2000-01-01") == [1, 2, 3, 4]
    assert shown("--since", "2999-01-01T00:00:00+00:00") == []
    record = json.loads(cli("audit", "show", "--json", "--action",
                            "updatePermissions").stdout)
    assert record["request_params"] == {"securable": "dev.silver"}
    assert record["response"]["status_code"] == 403
    table = cli("audit", "show", "--principal", "alice")
    assert table.exit_code == 0 and "updatePermissions" in table.stdout
    assert "createToken" not in table.stdout


def test_show_a_bad_time_is_a_usage_error(catalog: Catalog) -> None:
    result = cli("audit", "show", "--since", "yesterday")
    assert result.exit_code == 2 and "yesterday" in result.stderr
