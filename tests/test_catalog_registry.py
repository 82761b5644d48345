"""The registry's table documents: under concurrent writers every put succeeds and the
document read afterwards is one of those written, whole; no document holds a path of the root
(a copied or moved root addresses its own tables)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog.catalog import Catalog
from lakehouse_ml.catalog.names import TableName
from lakehouse_ml.catalog.registry import Registry, TableInfo


def test_concurrent_puts_of_one_table_never_fail_and_leave_a_whole_document(
    tmp_path: Path,
) -> None:
    registry, name = Registry(str(tmp_path)), TableName("dev", "bronze", "events_rejects")
    barrier, errors = threading.Barrier(8), []

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(40):
            try:
                registry.put(name, TableInfo(owner="t", comment=f"{n}-{i}"))
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    entry = registry.get(name)
    assert entry is not None and entry.info.comment.endswith("-39")
    assert [p.name for p in (tmp_path / "dev" / "_catalog" / "bronze").iterdir()] == [
        "events_rejects.json"]


def test_a_copied_lakehouse_lists_its_own_tables_not_the_originals(tmp_path: Path) -> None:
    """A copy of the root must list and address the copy's tables (writing through it must
    never reach the original)."""
    original = tmp_path / "original"
    catalog = Catalog(str(original), "dev")
    frame = pl.DataFrame({"customer_id": [1, 2]})
    catalog.create_table("silver.customers", frame.schema, TableInfo(owner="t"))
    catalog.append("silver.customers", frame)
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)

    listed = Catalog(str(copy), "dev").tables()
    assert [(t.name, t.location) for t in listed] == [
        ("dev.silver.customers", f"{copy}/dev/silver/customers")]
    shutil.rmtree(original)  # a moved lakehouse: its tables are still there
    assert [t.name for t in Catalog(str(copy), "dev").tables()] == ["dev.silver.customers"]


def test_a_document_holds_no_path_of_the_root(tmp_path: Path) -> None:
    """The location is derived from the root the catalog is opened on, never stored."""
    root = tmp_path / "lake"
    catalog = Catalog(f"file://{root}", "dev")
    catalog.create_table("silver.customers", pl.Schema({"id": pl.Int64}), TableInfo(
        owner="t", comment="customers", column_tags={"id": ["key"]}))
    catalog.create_table("silver.customers", pl.Schema({"id": pl.Int64}), TableInfo(
        owner="t", comment="changed"))  # rewritten
    document = root / "dev" / "_catalog" / "silver" / "customers.json"
    text = document.read_text()
    assert str(tmp_path) not in text and "file://" not in text
    assert sorted(json.loads(text)) == ["created_at", "info", "name"]
    entry = catalog.describe("silver.customers")
    assert entry.location == f"file://{root}/dev/silver/customers"
    assert entry.info.comment == "changed"


def test_a_document_written_with_a_location_loads_and_the_location_is_not_read(
    tmp_path: Path,
) -> None:
    """Documents written before held the absolute location of the root they were registered
    under; one naming another root still loads, addressed under this root."""
    root = tmp_path / "lake"
    catalog = Catalog(str(root), "dev")
    frame = pl.DataFrame({"id": [1, 2]})
    catalog.create_table("silver.customers", frame.schema, TableInfo(owner="t"))
    catalog.append("silver.customers", frame)
    document = root / "dev" / "_catalog" / "silver" / "customers.json"
    old = json.loads(document.read_text())
    document.write_text(json.dumps({**old, "location": "/gone/original/dev/silver/customers"}))

    mine = f"{root}/dev/silver/customers"
    assert Catalog(str(root), "dev").describe("silver.customers").location == mine
    assert [(t.name, t.location, t.info.owner) for t in Catalog(str(root), "dev").tables()
            ] == [("dev.silver.customers", mine, "t")]
    assert Catalog(str(root), "dev").read("silver.customers")["id"].to_list() == [1, 2]
