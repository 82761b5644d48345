"""Erasure from the landing zone (issue 14 item 5): landed files rewritten without the subject,
every other line kept byte for byte, the bronze manifest kept in step (a real bronze ingest
afterwards reads nothing again), dry runs, broken lines and interrupted rewrites."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest

import lakehouse_ml.governance.erasure_files_manifest as erasure_manifest
import lakehouse_ml.ingest.layout as layout
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_LOG
from lakehouse_ml.governance.erasure_files import erase_landed_files
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.ingest.landing import parse
from lakehouse_ml.medallion.spec import Source
from tests.conftest import close_writers
from tests.test_ingest_landing import CUSTOMER_HEADER, customer, ev, jl

DAY = "2026-03-01"
EVENTS, CUSTOMERS = DOMAIN.source("events"), DOMAIN.source("customers")
SUBJECT = Subject("customer_id", "90017")
EMAIL = b"u90017@x.com"
CUSTOMERS_FILE, EVENTS_FILE = f"customers/{DAY}/part-0.csv", f"events/{DAY}/part-0.json"


def land(settings: Settings, relative: str, lines: list[bytes]) -> Path:
    path = Path(settings.landing) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(lines))
    return path


def customer_lines() -> tuple[list[bytes], set[int]]:
    """Customers' CSV lines (header first) and the indexes of the subject's."""
    lines = [
        (CUSTOMER_HEADER + "\n").encode(),
        (customer(9001) + "\n").encode(),
        (customer(90017) + "\r\n").encode(),                   # the subject (CRLF)
        (customer(91017) + "\n").encode(),
        b"90017,u90017@x.com,US\n",                            # too few fields: rejected
        b"x90017,u90017@x.com,US,basic,t-01,2025-01-01,2026-03-01T10:00:00Z\n",  # wrong type
        b",u90017@x.com,US,basic,t-01,2025-01-01,2026-03-01T10:00:00Z\n",  # null key, email
        b"9001,\xff\xfe,US\n",                                  # not UTF-8, another key
        (customer(17) + "\n").encode(),
    ]
    return lines, {2, 4, 5, 6}


def event_lines() -> tuple[list[bytes], set[int]]:
    half = json.dumps(ev(8, customer_id=90017))[:45].encode()
    lines = [
        jl(ev(1, customer_id=9001)),
        jl(ev(2, customer_id=90017)),                          # the subject
        jl(ev(3, customer_id="90017")),                        # the subject, as text
        jl(ev(4, customer_id=[90017])),                        # nested: quarantined
        half + b"\n",                                          # cut short: rejected
        jl(ev(5, customer_id=91017)),
        b"not json at all\n",
        jl(ev(6, customer_id=9001)).rstrip(b"\n"),             # last line without an end
    ]
    return lines, {1, 2, 3, 4}


@pytest.fixture
def landed_files(settings: Settings, catalog: Catalog) -> dict[str, tuple[list[bytes], set[int]]]:
    files = {CUSTOMERS_FILE: customer_lines(), EVENTS_FILE: event_lines()}
    for relative, (lines, _) in files.items():
        land(settings, relative, lines)
    for source in (CUSTOMERS, EVENTS):
        ingest(catalog, source, settings.landing, [DAY])
    return files


def erase(settings: Settings, dry_run: bool = False, subject: Subject = SUBJECT
          ) -> list[ErasedPlace]:
    return erase_landed_files(Path(settings.landing), Path(settings.root), settings.env,
                              subject, dry_run=dry_run)


def everything(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_subject_leaves_every_landed_file_and_every_other_line_stays_byte_for_byte(
    settings: Settings, landed_files: dict[str, tuple[list[bytes], set[int]]]
) -> None:
    places = erase(settings)
    for relative, data in everything(Path(settings.landing)).items():
        assert b"90017" not in data and EMAIL not in data, relative
    for relative, (lines, subjects) in landed_files.items():
        kept = b"".join(line for i, line in enumerate(lines) if i not in subjects)
        assert (Path(settings.landing) / relative).read_bytes() == kept
    by_name = {p.name: p for p in places}
    customers, _ = landed_files[CUSTOMERS_FILE]
    assert by_name[CUSTOMERS_FILE] == ErasedPlace(
        "landed_file", CUSTOMERS_FILE, 4, len(b"".join(
            line for i, line in enumerate(customers) if i not in {2, 4, 5, 6})),
        malformed=3, lines=(3, 5, 6, 7))  # bronze's _line: the header is line 1
    assert (by_name[EVENTS_FILE].rows, by_name[EVENTS_FILE].malformed) == (4, 2)
    assert by_name[EVENTS_FILE].lines == (2, 3, 4, 5)
    assert set(by_name) == {CUSTOMERS_FILE, EVENTS_FILE}


def test_a_rewritten_file_parses_as_the_original_without_the_subject(
    settings: Settings, landed_files: dict[str, tuple[list[bytes], set[int]]]
) -> None:
    before = (Path(settings.landing) / EVENTS_FILE).read_bytes()
    erase(settings)
    columns = list(EVENTS.schema)
    old = parse(before, "jsonl", columns).records.drop("_line")
    new = parse((Path(settings.landing) / EVENTS_FILE).read_bytes(), "jsonl", columns)
    assert new.records.drop("_line").to_dicts() == [
        r for r in old.to_dicts() if r["customer_id"] not in ("90017", "[90017]")]
    assert new.rejects["raw"].to_list() == ["not json at all"]


def test_customer_4_is_not_customer_42(settings: Settings) -> None:
    lines = [jl(ev(i, customer_id=c)) for i, c in
             enumerate([4, 42, 14, 44, "4", 40, " 4", 4.0, "x4", "x42", "04"])]
    escaped = b'{"event_id": "e-11", "customer_id": "\\u0034"}\n'  # bronze reads "4"
    land(settings, EVENTS_FILE, [*lines, escaped])
    erase(settings, subject=Subject("customer_id", "4"))
    kept = [json.loads(x)["customer_id"] for x in
            (Path(settings.landing) / EVENTS_FILE).read_bytes().splitlines()]
    assert kept == [42, 14, 44, 40, "x42"]


def test_after_the_erasure_the_bronze_ingest_reads_nothing_again(
    settings: Settings, catalog: Catalog, landed_files: dict[str, tuple[list[bytes], set[int]]]
) -> None:
    erase(settings)
    for source, relative in ((CUSTOMERS, CUSTOMERS_FILE), (EVENTS, EVENTS_FILE)):
        report = ingest(catalog, source, settings.landing, [DAY])
        assert (report.files, report.relanded, report.skipped_files) == (0, 0, 1)
        data = (Path(settings.landing) / relative).read_bytes()
        entry = catalog.read(source.manifest_table).to_dicts()
        assert len(entry) == 1
        parsed = parse(data, source.format, list(source.schema))
        assert {k: entry[0][k] for k in ("size", "checksum", "records", "rejected")} == {
            "size": len(data), "checksum": hashlib.sha256(data).hexdigest(),
            "records": parsed.records.height, "rejected": parsed.rejects.height}
        assert entry[0]["previous_checksum"] is None  # still the content's first ingestion
    assert catalog.read(CUSTOMERS.manifest_table)["lines"].to_list() == [4]


def test_a_dry_run_changes_nothing_and_reports_the_same_places(
    settings: Settings, catalog: Catalog, landed_files: dict[str, tuple[list[bytes], set[int]]]
) -> None:
    before = everything(Path(settings.landing))
    manifest_version = catalog.version(CUSTOMERS.manifest_table)
    planned = erase(settings, dry_run=True)
    assert everything(Path(settings.landing)) == before
    assert catalog.version(CUSTOMERS.manifest_table) == manifest_version
    assert all(p.bytes_rewritten == 0 for p in planned)
    done = erase(settings)
    assert [(p.name, p.rows, p.malformed) for p in planned] == [
        (p.name, p.rows, p.malformed) for p in done]
    assert all(p.bytes_rewritten > 0 for p in done)
    assert erase(settings) == []  # nothing left to erase


def test_files_that_bronze_cannot_read_are_reported_not_raised(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    land(settings, f"events/{DAY}/big.json", [jl(ev(1, customer_id=90017))] * 50)
    land(settings, f"customers/{DAY}/no-header.csv", [
        (customer(90017) + "\n").encode(), (customer(9001) + "\n").encode()])
    land(settings, f"events/{DAY}/binary.json", [b"\x1f\x8b\x08\x00\xff" * 20])
    monkeypatch.setattr(layout, "MAX_FILE_BYTES", 2000)
    places = {p.name: p for p in erase(settings)}
    assert places[f"events/{DAY}/big.json"].rows == 0
    assert "larger than the 2,000-byte limit" in places[f"events/{DAY}/big.json"].problem
    # a CSV without its header: bronze rejects every line; the subject's is dropped anyway
    assert places[f"customers/{DAY}/no-header.csv"].malformed == 1
    assert (Path(settings.landing) / f"customers/{DAY}/no-header.csv").read_bytes() == (
        customer(9001) + "\n").encode()
    assert f"events/{DAY}/binary.json" not in places


def killed_with(signal: type[BaseException]) -> object:
    """A manifest write that dies (as a kill would) when it has rewritten files to record."""

    def record(catalog: Catalog, source: object, landed: dict, *rest: object) -> None:
        if landed:
            raise signal

    return record


def test_a_kill_between_the_rewrite_and_the_manifest_is_repaired_by_the_next_run(
    settings: Settings, catalog: Catalog, landed_files: dict[str, tuple[list[bytes], set[int]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(erasure_manifest, "record", killed_with(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            erase(settings)
    lines, subjects = landed_files[CUSTOMERS_FILE]
    folder = Path(settings.landing) / f"customers/{DAY}"
    assert (folder / "part-0.csv").read_bytes() == b"".join(
        line for i, line in enumerate(lines) if i not in subjects)  # whole, never half
    assert sorted(p.name for p in folder.iterdir()) == ["_erasure.part-0.csv.json", "part-0.csv"]
    places = erase(settings)
    assert [p.name for p in places if p.problem and "interrupted" in p.problem] == [
        CUSTOMERS_FILE]
    assert sorted(p.name for p in folder.iterdir()) == ["part-0.csv"]
    for source in (CUSTOMERS, EVENTS):
        assert ingest(catalog, source, settings.landing, [DAY]).files == 0


def test_an_ingest_after_a_kill_reads_the_rewritten_file_once_and_the_journal_goes(
    settings: Settings, catalog: Catalog, landed_files: dict[str, tuple[list[bytes], set[int]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(erasure_manifest, "record", killed_with(SystemExit))
        with pytest.raises(SystemExit):
            erase(settings)
    report = ingest(catalog, CUSTOMERS, settings.landing, [DAY])
    assert (report.files, report.relanded) == (1, 1)
    assert "90017" not in catalog.read(CUSTOMERS.bronze_table)["customer_id"].to_list()
    erase(settings)
    assert not list(Path(settings.landing).rglob("_erasure.*"))
    assert ingest(catalog, CUSTOMERS, settings.landing, [DAY]).files == 0


def test_a_failed_rename_leaves_the_original_whole_and_no_temporary_file(
    settings: Settings, landed_files: dict[str, tuple[list[bytes], set[int]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = everything(Path(settings.landing))
    real = erasure_manifest.os.replace

    def replace(source: str, target: str) -> None:
        if not str(target).endswith(".json") or "_erasure" not in str(target):
            raise OSError(28, "No space left on device")
        real(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(erasure_manifest.os, "replace", replace)
        with pytest.raises(OSError, match="No space left"):
            erase(settings)
    after = everything(Path(settings.landing))
    assert {k: v for k, v in after.items() if "_erasure" not in k} == before
    assert not [k for k in after if k.endswith(".tmp")]
    erase(settings)  # the next run finds the journal stale and erases as usual
    assert not [k for k in everything(Path(settings.landing)) if "_erasure" in k]


def test_on_generated_dirty_landing_data_the_subject_leaves_and_bronze_reads_nothing_again(
    settings: Settings, catalog: Catalog, landing: object
) -> None:
    """The demo generator's files (CSV and JSON lines, with malformed, wrong-type, null-key and
    duplicate lines): customer 7's lines go, every other line stays, in order."""
    root = Path(settings.landing)
    days = sorted({p.parent.name for p in root.glob("*/*/*")})
    for source in DOMAIN.sources:
        ingest(catalog, source, settings.landing, days)
    before = everything(root)
    places = erase(settings, subject=Subject("customer_id", "7"))
    after = everything(root)
    assert sum(p.rows for p in places) == sum(
        len(before[k].splitlines()) - len(after[k].splitlines()) for k in before) > 0
    assert any(p.malformed for p in places)
    for relative, data in after.items():
        assert b"user7@example.com" not in data, relative
        assert not re.search(rb'"customer_id": ?"?x?7[,"}]', data), relative
        old = iter(before[relative].splitlines(keepends=True))
        assert all(line in old for line in data.splitlines(keepends=True)), relative
        if relative.endswith(".csv"):
            rows = list(csv.reader(data.decode("utf-8", "replace").splitlines()))
            at = rows[0].index("customer_id")
            assert all(r[at].lstrip("x") != "7" for r in rows[1:] if len(r) > at), relative
    for source in DOMAIN.sources:
        report = ingest(catalog, source, settings.landing, days)
        assert (report.files, report.refused) == (0, []), source.name


@pytest.mark.parametrize(("granted", "denied"), [
    ({"SELECT": (CUSTOMERS, EVENTS), "MODIFY": (EVENTS,)}, "MODIFY.*customers_manifest"),
    ({"SELECT": (CUSTOMERS,), "MODIFY": (CUSTOMERS, EVENTS)}, "SELECT.*events_manifest"),
])
def test_a_principal_who_may_not_change_every_manifest_changes_no_file(
    settings: Settings, catalog: Catalog, landed_files: dict[str, tuple[list[bytes], set[int]]],
    granted: dict, denied: str,
) -> None:
    metastore = Metastore(settings.root, settings.env)
    metastore.add_principal("ann")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "bronze", "ann")
    for privilege, sources in granted.items():
        for source in sources:
            metastore.grant([privilege], "TABLE", source.manifest_table, "ann")
    before = everything(Path(settings.landing))
    for dry_run in (True, False) if denied.startswith("MODIFY") else (False,):
        with pytest.raises(PermissionDenied, match=f"ann.*{denied}"):
            erase_landed_files(Path(settings.landing), Path(settings.root), settings.env,
                               SUBJECT, dry_run=dry_run, principal="ann")
    assert everything(Path(settings.landing)) == before


def test_the_lines_named_are_the_bronze_rows_and_rejects_that_hold_the_subject(
    settings: Settings, catalog: Catalog, landed_files: dict[str, tuple[list[bytes], set[int]]]
) -> None:
    """What erasure-core deletes from bronze by `_record_id` (`<file>#<line>`)."""
    places = {p.name: p for p in erase(settings, dry_run=True)}
    for source, relative in ((CUSTOMERS, CUSTOMERS_FILE), (EVENTS, EVENTS_FILE)):
        rows = pl.concat([catalog.read(t).select(
            "_line", pl.concat_str(pl.exclude("_line", "_ingested_at").cast(pl.String),
                                   separator="|", ignore_nulls=True).alias("text"))
            for t in (source.bronze_table, source.rejects_table)])
        holding = rows.filter(pl.col("text").str.contains("90017"))["_line"].sort().to_list()
        assert holding == list(places[relative].lines), relative


def test_a_file_relanded_since_its_ingestion_keeps_its_manifest_row_and_is_read_again(
    settings: Settings, catalog: Catalog, landed_files: dict[str, tuple[list[bytes], set[int]]]
) -> None:
    """Its bronze rows are of the earlier content: the next ingest must read the new one."""
    relanded = jl(ev(9, customer_id=90017), ev(10, customer_id=9001))
    land(settings, EVENTS_FILE, [relanded])
    manifest = catalog.read(EVENTS.manifest_table)
    erase(settings)
    assert catalog.read(EVENTS.manifest_table).equals(manifest)
    report = ingest(catalog, EVENTS, settings.landing, [DAY])
    assert (report.files, report.relanded, report.records) == (1, 1, 1)
    assert catalog.read(EVENTS.bronze_table)["event_id"].to_list() == ["e-10"]


class ContactContract(pa.DataFrameModel):
    email: str = pa.Field(metadata={"tags": ["pii"]})
    score: int = pa.Field()


CONTACTS = Source(name="contacts", format="csv", contract=ContactContract,
                  primary_key=("email",), description="A source without the key column.",
                  event_time="score")


def test_a_source_without_the_key_loses_the_records_of_the_subjects_email_only(
    settings: Settings,
) -> None:
    land(settings, CUSTOMERS_FILE, customer_lines()[0])
    contacts = land(settings, f"contacts/{DAY}/a.csv", [
        b"email,score\n", EMAIL + b",5\n", b"u9001@x.com,90017\n", b"a," + EMAIL + b",1\n"])
    places = {p.name: p for p in erase_landed_files(
        Path(settings.landing), Path(settings.root), settings.env, SUBJECT, dry_run=False,
        sources=[CUSTOMERS, CONTACTS])}
    assert contacts.read_bytes() == b"email,score\nu9001@x.com,90017\n"  # a score, not a key
    assert (places[f"contacts/{DAY}/a.csv"].rows,
            places[f"contacts/{DAY}/a.csv"].malformed) == (2, 1)


def test_a_file_never_ingested_needs_modify_on_its_manifests_schema(
    settings: Settings, catalog: Catalog
) -> None:
    """No manifest table guards a landed file its source never ingested: rewriting it needs
    MODIFY on the schema the manifest would be created in, checked before any byte changes
    (the dry run denied the same way, each denial audited once)."""
    lines, subjects = customer_lines()
    path = land(settings, CUSTOMERS_FILE, lines)
    assert not catalog.exists(CUSTOMERS.manifest_table)
    metastore = Metastore(settings.root, settings.env)
    metastore.add_principal("ann")
    # USE SCHEMA (inherited): the erasure asks whether the manifest exists, which only who
    # may see it is told (Catalog.exists); the denial is then MODIFY's
    metastore.grant(["USE CATALOG", "USE SCHEMA", "SELECT"], "CATALOG", "dev", "ann")
    before = everything(Path(settings.landing))
    for dry_run in (True, False):
        with pytest.raises(PermissionDenied, match="ann.*MODIFY.*dev"):
            erase_landed_files(Path(settings.landing), Path(settings.root), settings.env,
                               SUBJECT, dry_run=dry_run, principal="ann", sources=[CUSTOMERS])
    assert everything(Path(settings.landing)) == before
    close_writers()
    log = catalog.lake.read(catalog.location(AUDIT_LOG))
    by_ann = log.filter(pl.col("user_identity").struct.field("email") == "ann")
    assert by_ann["response"].struct.field("status_code").to_list() == [403, 403]

    metastore.grant(["MODIFY"], "CATALOG", "dev", "ann")  # reaches the schema by inheritance
    places = erase_landed_files(Path(settings.landing), Path(settings.root), settings.env,
                                SUBJECT, dry_run=False, principal="ann", sources=[CUSTOMERS])
    assert [p.name for p in places] == [CUSTOMERS_FILE]
    assert path.read_bytes() == b"".join(x for i, x in enumerate(lines) if i not in subjects)


def test_a_dry_run_says_an_unreadable_journal_would_be_removed_and_keeps_it(
    settings: Settings, landed_files: dict[str, tuple[list[bytes], set[int]]]
) -> None:
    journal = Path(settings.landing) / f"customers/{DAY}/_erasure.part-0.csv.json"
    journal.write_bytes(b"{cut short")
    relative = journal.relative_to(settings.landing).as_posix()

    said = {p.name: p.problem for p in erase(settings, dry_run=True)}
    assert said[relative] == "unreadable erasure journal: would be removed (dry run)"
    assert journal.read_bytes() == b"{cut short"
    said = {p.name: p.problem for p in erase(settings)}
    assert said[relative] == "unreadable erasure journal: removed"
    assert not journal.exists()
