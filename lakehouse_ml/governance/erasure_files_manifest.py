"""The landed-file half of an erasure that keeps bronze in step: files replaced atomically
behind a journal, their bronze manifest rows updated, interrupted erasures finished.

A file is rewritten into a temporary file beside it (`.<name>.erasure.tmp`, ignored by
bronze), then a journal `_erasure.<name>.json` (ignored by bronze; checksums only, no data)
records the content before and after, then the temporary file is renamed over the original
(atomic: a reader sees the old bytes or the new, never half of them), and only then is the
manifest written and the journal removed. A run killed in between leaves the journal: the next
erasure (dry run: reports it) brings the manifest entry up to date from it; an ingest meanwhile
reads the rewritten file once as re-landed, which is also correct.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.erasure_places import ErasedPlace
from lakehouse_ml.ingest.landing import landed_records, parse
from lakehouse_ml.ingest.layout import landed_batches
from lakehouse_ml.lake.predicates import in_list
from lakehouse_ml.medallion.spec import Source

JOURNAL = "_erasure.{name}.json"
TEMPORARY = ".{name}.erasure.tmp"


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def replace(path: Path, relative: str, before: bytes, after: bytes) -> None:
    """Journal, then `after` renamed over `path` (see the module's docstring)."""
    note = {"path": relative, "before": checksum(before), "after": checksum(after)}
    journal = _journal(path)
    _write_atomically(journal, json.dumps(note).encode(),
                      journal.with_name(TEMPORARY.format(name=journal.name)))
    _write_atomically(path, after, path.with_name(TEMPORARY.format(name=path.name)))


def done(path: Path) -> None:
    """Remove the journal of a file whose manifest row is written."""
    _journal(path).unlink(missing_ok=True)


def manifest_rows(catalog: Catalog, source: Source, paths: Sequence[str]) -> pl.DataFrame | None:
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
        rows.append({**row, "size": len(data), "checksum": checksum(data),
                     "lines": landed_records(data) - parsed.header_lines,
                     "records": parsed.records.height, "rejected": parsed.rejects.height})
    return pl.DataFrame(rows, schema=manifest.schema)


def record(catalog: Catalog, source: Source, landed: dict[str, tuple[str, bytes]],
           manifest: pl.DataFrame | None = None) -> None:
    """Write the manifest rows of rewritten files (one commit for the source); `manifest`: its
    rows read before the files were written (else read now)."""
    if manifest is None:
        manifest = manifest_rows(catalog, source, list(landed))
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


def repair(catalog: Catalog, landing: Path, source: Source, dry_run: bool
            ) -> list[ErasedPlace]:
    places, landed = [], {}
    for journal, note in _interrupted(landing, source):
        if note is None:
            places.append(ErasedPlace("landed_file", journal.relative_to(landing).as_posix(), 0,
                                      problem="unreadable erasure journal: " + (
                                          "would be removed (dry run)" if dry_run
                                          else "removed")))
            continue
        path = landing / note["path"]
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        if checksum(data) == note["after"]:
            landed[note["path"]] = (note["before"], data)
            problem = ("an earlier erasure was interrupted after rewriting the file, before "
                       "updating its manifest entry: " + (
                           "the next forget updates it" if dry_run else "updated now"))
        else:
            problem = "an earlier erasure was interrupted before rewriting the file"
        places.append(ErasedPlace("landed_file", note["path"], 0, problem=problem))
    if not dry_run:
        record(catalog, source, landed)
        for journal, _ in _interrupted(landing, source):
            journal.unlink(missing_ok=True)
    return places
