"""Erasure from the landing zone: every landed file holding the subject is rewritten in its own
format without the subject's lines (which lines: `erasure_files_lines`), and its bronze
manifest entry is brought up to date so the next ingest neither reads it again nor counts it
as changed. The MLflow part is `erase_model_artifacts` (`erasure_files_artifacts`).

Kill safety: a file is rewritten into a temporary file beside it (`.<name>.erasure.tmp`,
ignored by bronze), then a journal `_erasure.<name>.json` (ignored by bronze; checksums only,
no data) records the content before and after, then the temporary file is renamed over the
original (atomic: a reader sees the old bytes or the new, never half of them), and only then
is the manifest written and the journal removed. A run killed in between leaves the journal:
the next erasure (dry run: reports it) brings the manifest entry up to date from it; an ingest
meanwhile reads the rewritten file once as re-landed, which is also correct.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.erasure_files_artifacts import erase_model_artifacts
from lakehouse_ml.governance.erasure_files_lines import (
    CsvHeader,
    Holds,
    SourceSubject,
    content,
    holds,
    pii_values,
    split_lines,
)
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.ingest.landing import landed_records, parse
from lakehouse_ml.ingest.layout import LandedFile, Stray, landed_batches, read_landed, survey
from lakehouse_ml.lake.predicates import in_list
from lakehouse_ml.medallion.spec import Source

__all__ = ["erase_landed_files", "erase_model_artifacts"]

JOURNAL = "_erasure.{name}.json"
TEMPORARY = ".{name}.erasure.tmp"


@dataclass(frozen=True)
class _Rewrite:
    file: LandedFile
    before: bytes
    after: bytes
    lines: tuple[int, ...]
    """Line numbers removed (bronze's `_line`)."""
    malformed: int

    def place(self, dry_run: bool) -> ErasedPlace:
        return ErasedPlace("landed_file", self.file.relative, len(self.lines),
                           0 if dry_run else len(self.after), self.malformed,
                           lines=self.lines)


def _checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _view(source: Source, subject: Subject, identifiers: frozenset[str]) -> SourceSubject:
    _, tags = source.column_docs()
    return SourceSubject(subject.column, source.schema.get(subject.column), subject.value,
                         identifiers, tuple(c for c, t in tags.items() if "pii" in t))


def _lines(source: Source, data: bytes) -> tuple[bytes, list[bytes], CsvHeader | None, int]:
    """(byte-order mark, lines, CSV header, index of the first data line)."""
    bom, lines = split_lines(data)
    if source.format == "csv" and lines:
        header = CsvHeader.of(content(lines[0]), list(source.schema))
        return bom, lines, header, 1 if header.accepted else 0  # refused: a line like others
    return bom, lines, None, 0


def _rewrite(source: Source, view: SourceSubject, file: LandedFile, data: bytes
             ) -> _Rewrite | None:
    if not view.may_hold(data):
        return None
    bom, lines, header, first = _lines(source, data)
    kept, removed, malformed = lines[:first], [], 0
    for number, line in enumerate(lines[first:], start=first + 1):
        found = holds(view, source.format, header, content(line))
        if found is Holds.NOTHING:
            kept.append(line)
        else:
            removed.append(number)
            malformed += found is Holds.MALFORMED
    if not removed:
        return None
    return _Rewrite(file, data, bom + b"".join(kept), tuple(removed), malformed)


def _files(landing: Path, source: Source) -> Iterator[tuple[LandedFile | None, bytes | Stray]]:
    """Each data file of the source's day folders with its bytes or why they cannot be read,
    and each path there bronze does not read (a link, a file over the size limit) as
    (None, Stray)."""
    found = survey(str(landing), source.name, landed_batches(str(landing), source.name),
                   source.ignore)
    for stray in found.strays:
        yield None, stray
    for file in found.files:
        yield file, read_landed(file)


def _identifiers(landing: Path, sources: Sequence[Source], subject: Subject) -> frozenset[str]:
    """Values of `pii` columns in the subject's records (e.g. its email), which identify its
    lines whose key is missing or broken."""
    found: set[str] = set()
    for source in sources:
        view = _view(source, subject, frozenset())
        if view.dtype is None or not view.pii:
            continue
        for _, data in _files(landing, source):
            if isinstance(data, Stray) or not view.may_hold(data):
                continue
            _, lines, header, first = _lines(source, data)
            for line in lines[first:]:
                if holds(view, source.format, header, content(line)) is Holds.RECORD:
                    found.update(pii_values(view, source.format, header, content(line)))
    return frozenset(found)


def _write_atomically(path: Path, data: bytes, temporary: Path) -> None:
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _journal(path: Path) -> Path:
    return path.with_name(JOURNAL.format(name=path.name))


def _replace(rewrite: _Rewrite) -> None:
    """Journal, then the new content renamed over the old (see the module's docstring)."""
    path = rewrite.file.path
    note = {"path": rewrite.file.relative, "before": _checksum(rewrite.before),
            "after": _checksum(rewrite.after)}
    journal = _journal(path)
    _write_atomically(journal, json.dumps(note).encode(),
                      journal.with_name(TEMPORARY.format(name=journal.name)))
    _write_atomically(path, rewrite.after, path.with_name(TEMPORARY.format(name=path.name)))


def _manifest(catalog: Catalog, source: Source, paths: Sequence[str]) -> pl.DataFrame | None:
    """The latest manifest row of each of `paths` (None: no manifest yet)."""
    if not paths or not catalog.exists(source.manifest_table):
        return None
    return (catalog.scan(source.manifest_table).filter(pl.col("path").is_in(list(paths)))
            .collect().sort("ingested_at").unique("path", keep="last", maintain_order=True))


def _entries(manifest: pl.DataFrame, source: Source, landed: dict[str, tuple[str, bytes]]
             ) -> pl.DataFrame:
    """Manifest rows for the files in `landed` (path → (checksum the manifest must hold for the
    row to be updated, new content)): the row of `manifest`, with size, checksum and counts of
    the new content. Files not ingested, or re-landed since, are left out."""
    rows = []
    for row in manifest.filter(pl.col("path").is_in(list(landed))).iter_rows(named=True):
        before, data = landed[row["path"]]
        if row["checksum"] != before:
            continue
        parsed = parse(data, source.format, list(source.schema))
        rows.append({**row, "size": len(data), "checksum": _checksum(data),
                     "lines": landed_records(data) - parsed.header_lines,
                     "records": parsed.records.height, "rejected": parsed.rejects.height})
    return pl.DataFrame(rows, schema=manifest.schema)


def _record(catalog: Catalog, source: Source, landed: dict[str, tuple[str, bytes]],
            manifest: pl.DataFrame | None = None) -> None:
    """Write the manifest rows of rewritten files (one commit for the source); `manifest`: its
    rows read before the files were written (else read now)."""
    if manifest is None:
        manifest = _manifest(catalog, source, list(landed))
    if not landed or manifest is None:
        return
    entries = _entries(manifest, source, landed)
    if entries.height:
        catalog.overwrite(source.manifest_table, entries,
                          predicate=in_list("path", entries["path"].to_list()))


def _interrupted(landing: Path, source: Source) -> Iterator[tuple[Path, dict | None]]:
    """Journals left by an erasure killed before its manifest write, with their notes (None:
    unreadable)."""
    folder = landing / source.name
    for day in landed_batches(str(landing), source.name):
        for journal in sorted((folder / day).glob(JOURNAL.format(name="*"))):
            try:
                note = json.loads(journal.read_bytes()[:4096])
            except (OSError, ValueError):
                note = None
            ok = isinstance(note, dict) and all(isinstance(note.get(k), str)
                                                for k in ("path", "before", "after"))
            yield journal, note if ok else None


def _repair(catalog: Catalog, landing: Path, source: Source, dry_run: bool
            ) -> list[ErasedPlace]:
    places, landed = [], {}
    for journal, note in _interrupted(landing, source):
        if note is None:
            places.append(ErasedPlace("landed_file", journal.relative_to(landing).as_posix(), 0,
                                      problem="unreadable erasure journal: removed"))
            continue
        path = landing / note["path"]
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        if _checksum(data) == note["after"]:
            landed[note["path"]] = (note["before"], data)
            problem = ("an earlier erasure was interrupted after rewriting the file, before "
                       "updating its manifest entry: " + (
                           "the next forget updates it" if dry_run else "updated now"))
        else:
            problem = "an earlier erasure was interrupted before rewriting the file"
        places.append(ErasedPlace("landed_file", note["path"], 0, problem=problem))
    if not dry_run:
        _record(catalog, source, landed)
        for journal, _ in _interrupted(landing, source):
            journal.unlink(missing_ok=True)
    return places


def _declared_sources() -> list[Source]:
    from lakehouse_ml.domains import declared_domains  # the declarations, loaded on demand

    return [source for domain in declared_domains() for source in domain.sources]


def erase_landed_files(
    landing_root: Path, lakehouse_root: Path, env: str, subject: Subject, *, dry_run: bool,
    principal: str | None = None, sources: Sequence[Source] | None = None,
) -> list[ErasedPlace]:
    """Rewrite every landed file of the declared sources (or `sources`) that holds `subject`,
    without its lines, and update the files' bronze manifest entries (size, checksum, lines,
    records, rejected; path, batch, ingestion time and previous checksum kept).

    Returns one `ErasedPlace` (kind "landed_file", name: the path below the landing root) per
    file holding the subject — rows: its lines removed, of which `malformed` were lines bronze
    rejects or silver quarantines; bytes_rewritten: the new file's size (0 in a dry run) — and
    per file that could not be read or an interrupted erasure left behind (rows 0, `problem`
    says what). Never raises on what a file holds; the dry run writes nothing. The manifest is
    read and written as `principal` (default: the current principal): PermissionDenied when it
    may not."""
    landing = Path(landing_root).resolve()
    chosen = _declared_sources() if sources is None else list(sources)
    identifiers = _identifiers(landing, chosen, subject)
    catalog = Catalog(str(lakehouse_root), env, principal=principal)
    places: list[ErasedPlace] = []
    for source in chosen:
        view = _view(source, subject, identifiers)
        if view.dtype is None and not (view.pii and identifiers):
            continue
        places.extend(_repair(catalog, landing, source, dry_run))
        rewrites = []
        for file, data in _files(landing, source):
            if isinstance(data, Stray) or file is None:
                places.append(ErasedPlace("landed_file", data.relative, 0,
                                          problem=f"not checked: {data.reason}"))
            elif (rewrite := _rewrite(source, view, file, data)) is not None:
                rewrites.append(rewrite)
                places.append(rewrite.place(dry_run))
        if not dry_run and rewrites:
            _erase(catalog, source, landing, rewrites)
    return places


def _erase(catalog: Catalog, source: Source, landing: Path, rewrites: list[_Rewrite]) -> None:
    """Replace the files, then their manifest rows (read first: a principal who may not read
    the manifest is refused before any file is written), then drop the journals."""
    manifest = _manifest(catalog, source, [r.file.relative for r in rewrites])
    landed = {}
    for rewrite in rewrites:
        _replace(rewrite)
        landed[rewrite.file.relative] = (_checksum(rewrite.before), rewrite.after)
    _record(catalog, source, landed, manifest)
    for relative in landed:
        _journal(landing / relative).unlink(missing_ok=True)
