"""Landing → bronze → silver on real Delta tables: re-landed files, poison pills, encodings,
headers, links and concurrent runs (issue 9, items 1-4, 6 and 7)."""

from __future__ import annotations

import hashlib
import threading
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import lakehouse_ml.ingest.bronze as bronze
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.ingest.landing import ParsedFile
from lakehouse_ml.medallion.moves import vacated_days
from lakehouse_ml.medallion.reconcile import reconcile
from lakehouse_ml.medallion.silver import refine
from lakehouse_ml.medallion.spec import Source
from tests.test_ingest_landing import CUSTOMER_HEADER, customer, ev, jl

DAY = "2026-03-01"
EVENTS = DOMAIN.source("events")
CUSTOMERS = DOMAIN.source("customers")


def land(settings: Settings, relative: str, data: bytes) -> Path:
    path = Path(settings.landing) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def refresh(catalog: Catalog, settings: Settings, source: Source = EVENTS) -> bronze.IngestReport:
    report = ingest(catalog, source, settings.landing, [DAY])
    refine(catalog, source, [DAY])
    return report


def balance(catalog: Catalog, source: Source = EVENTS) -> dict:
    return reconcile(catalog, source, [DAY]).to_dicts()[0]


def test_a_relanded_file_with_new_content_replaces_its_rows(
    settings: Settings, catalog: Catalog
) -> None:
    first = jl(ev(1), ev(2, event_ts="2026-02-27T10:00:00Z"))
    land(settings, f"events/{DAY}/a.json", first)
    refresh(catalog, settings)
    second = jl(ev(1, event_type="purchase", revenue=5.0), ev(3), ev(4), ev(5))
    land(settings, f"events/{DAY}/a.json", second)
    report = refresh(catalog, settings)
    assert (report.files, report.relanded, report.skipped_files) == (1, 1, 0)
    silver = catalog.read("silver.events").sort("event_id")
    assert silver["event_id"].to_list() == ["e-1", "e-3", "e-4", "e-5"]  # e-2 withdrawn
    assert silver.row(0, named=True)["event_type"] == "purchase"
    assert vacated_days(catalog, EVENTS, [DAY]) == {date(2026, 2, 27), date(2026, 3, 1)}
    assert catalog.read("bronze.events").height == 4
    manifest = catalog.read("bronze.events_manifest")
    assert manifest.select("path", "checksum", "previous_checksum", "lines").rows() == [
        (f"events/{DAY}/a.json", hashlib.sha256(second).hexdigest(),
         hashlib.sha256(first).hexdigest(), 4)]
    assert balance(catalog) | {"batch_id": DAY} == {
        "batch_id": DAY, "landed": 4, "parse_rejected": 0, "quarantined": 0, "in_silver": 4,
        "collapsed": 0, "lost": 0, "balanced": True}


def test_an_unchanged_file_is_not_read_again(settings: Settings, catalog: Catalog) -> None:
    path = land(settings, f"events/{DAY}/a.json", jl(ev(1)))
    refresh(catalog, settings)
    path.write_bytes(path.read_bytes())  # touched, same bytes
    report = refresh(catalog, settings)
    assert (report.files, report.skipped_files) == (0, 1)
    assert catalog.read("bronze.events_manifest").height == 1


def test_files_still_being_written_are_never_ingested(
    settings: Settings, catalog: Catalog
) -> None:
    source = Source(**{**EVENTS.__dict__, "ignore": ("*.partial",)})
    land(settings, f"events/{DAY}/a.json", jl(ev(1)))
    for name in ("b.json.tmp", ".c.json", "_SUCCESS", "d.json.partial", "_temporary/0/e.json"):
        land(settings, f"events/{DAY}/{name}", jl(ev(9)))
    report = ingest(catalog, source, settings.landing, [DAY])
    assert (report.files, report.ignored_files, report.refused) == (1, 5, [])
    assert catalog.read("bronze.events")["event_id"].to_list() == ["e-1"]


def test_poison_lines_go_to_rejects_or_quarantine_and_the_day_is_ingested(
    settings: Settings, catalog: Catalog
) -> None:
    land(settings, f"events/{DAY}/good.json", jl(*[ev(i) for i in range(100)]))
    deep = b'{"event_id": "e-deep", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}\n"
    land(settings, f"events/{DAY}/poison.json",
         jl(ev(500), ev(501, customer_id=[1, 2]), ev(502, customer_id={"id": 1})) + deep)
    land(settings, f"customers/{DAY}/twice.csv",
         f"email,{CUSTOMER_HEADER}\nx,{customer(1)}\n".encode())
    land(settings, f"customers/{DAY}/good.csv", f"{CUSTOMER_HEADER}\n{customer(2)}\n".encode())
    refresh(catalog, settings)
    refresh(catalog, settings, CUSTOMERS)
    assert catalog.read("silver.events").height == 101
    quarantine = catalog.read("silver.events_quarantine").sort("event_id")
    assert quarantine["customer_id"].to_list() == ["[1, 2]", '{"id": 1}']
    assert all("customer_id" in " ".join(r) for r in quarantine["_reasons"])
    rejects = catalog.read("bronze.events_rejects")
    assert rejects["reason"].to_list() == ["JSON nested too deeply to read"]
    assert catalog.read("silver.customers")["customer_id"].to_list() == [2]
    assert catalog.read("bronze.customers_rejects")["_line"].sort().to_list() == [1, 2]
    assert balance(catalog)["balanced"] and balance(catalog, CUSTOMERS)["balanced"]


def test_a_csv_with_a_byte_order_mark_reaches_silver(settings: Settings, catalog: Catalog) -> None:
    land(settings, f"customers/{DAY}/bom.csv",
         f"\ufeff{CUSTOMER_HEADER}\r\n{customer(1)}\r\n{customer(2)}\r\n".encode())
    refresh(catalog, settings, CUSTOMERS)
    assert sorted(catalog.read("silver.customers")["customer_id"]) == [1, 2]


def test_a_csv_without_its_header_is_rejected_and_balances_on_every_line(
    settings: Settings, catalog: Catalog
) -> None:
    land(settings, f"customers/{DAY}/c.csv",
         ("\n".join(customer(i) for i in (1, 2, 3)) + "\n").encode())
    refresh(catalog, settings, CUSTOMERS)
    counts = balance(catalog, CUSTOMERS)
    assert (counts["landed"], counts["parse_rejected"], counts["in_silver"]) == (3, 3, 0)
    assert counts["balanced"]


def test_landed_is_counted_from_the_bytes_so_a_parser_fault_cannot_balance(
    settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parser that drops a line (a fault injected here) shows as unbalanced."""
    parse = bronze.parse

    def dropping_last_record(data: bytes, fmt: str, columns: list[str],
                             types: pl.Schema) -> ParsedFile:
        parsed = parse(data, fmt, columns, types)
        return ParsedFile(parsed.records.head(-1), parsed.rejects, parsed.header_lines)

    monkeypatch.setattr(bronze, "parse", dropping_last_record)
    land(settings, f"events/{DAY}/a.json", jl(ev(1), ev(2), ev(3)))
    refresh(catalog, settings)
    counts = balance(catalog)
    assert (counts["landed"], counts["in_silver"], counts["balanced"]) == (3, 2, False)


def test_links_are_refused_and_never_read(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    secret = tmp_path / "outside" / "credentials"
    secret.parent.mkdir()
    secret.write_text('{"event_id": "aws_secret_access_key = travels"}\n')
    land(settings, f"events/{DAY}/a.json", jl(ev(1)))
    (Path(settings.landing) / f"events/{DAY}/x.json").symlink_to(secret)
    (Path(settings.landing) / f"events/{DAY}/y.json").symlink_to(
        Path(settings.landing) / f"events/{DAY}/a.json")
    (Path(settings.landing) / "events/2026-03-02").symlink_to(secret.parent)
    report = ingest(catalog, EVENTS, settings.landing, [DAY, "2026-03-02"])
    assert sorted((s.relative, s.reason) for s in report.refused) == [
        ("events/2026-03-01/x.json", "symbolic link: links are never followed"),
        ("events/2026-03-01/y.json", "symbolic link: links are never followed"),
        ("events/2026-03-02", "symbolic link: links are never followed"),
    ]
    everything = pl.concat([catalog.read("bronze.events").select(pl.all().cast(pl.String)),
                            catalog.read("bronze.events_rejects").select(pl.all().cast(pl.String))],
                           how="diagonal")
    assert not any("travels" in str(v) for row in everything.rows() for v in row)
    assert catalog.read("bronze.events")["event_id"].to_list() == ["e-1"]


def test_concurrent_refreshes_of_a_day_never_record_a_file_twice(
    settings: Settings, catalog: Catalog
) -> None:
    for round_ in range(8):
        for part in range(3):
            land(settings, f"events/{DAY}/r{round_}-{part}.json",
                 jl(*[ev(1000 * round_ + 10 * part + i) for i in range(5)]))
        barrier, errors = threading.Barrier(2), []

        def run() -> None:
            barrier.wait()  # noqa: B023 - each round's threads use that round's barrier
            try:
                ingest(Catalog(settings.root, settings.env), EVENTS, settings.landing, [DAY])
            except Exception as error:  # noqa: BLE001 - collected and asserted below
                errors.append(error)  # noqa: B023

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
    manifest = catalog.read("bronze.events_manifest")
    assert manifest.height == manifest["path"].n_unique() == 24
    assert catalog.read("bronze.events").height == 120
    refine(catalog, EVENTS, [DAY])
    assert balance(catalog)["landed"] == 120 and balance(catalog)["balanced"]


def test_a_duplicated_manifest_is_repaired_by_the_next_run(
    settings: Settings, catalog: Catalog
) -> None:
    land(settings, f"events/{DAY}/a.json", jl(ev(1), ev(2)))
    refresh(catalog, settings)
    catalog.append("bronze.events_manifest", catalog.read("bronze.events_manifest"))
    assert catalog.read("bronze.events_manifest").height == 2
    refresh(catalog, settings)
    manifest = catalog.read("bronze.events_manifest")
    assert manifest.height == 1
    assert balance(catalog)["landed"] == 2 and balance(catalog)["balanced"]
