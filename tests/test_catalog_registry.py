"""The metastore's documents under concurrent writers: every put succeeds and the document read
afterwards is one of those written, whole."""

from __future__ import annotations

import threading
from pathlib import Path

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
                registry.put(name, "loc", TableInfo(owner="t", comment=f"{n}-{i}"))
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
    """Table documents record the location at registration; a copy of the root must list and
    address the copy's tables (writing through it must never reach the original)."""
    import shutil

    import polars as pl

    from lakehouse_ml.catalog.catalog import Catalog

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
