"""Erasure from the landing zone: every landed file holding the subject is rewritten in its own
format without the subject's lines (which lines: `erasure_files_lines`), and its bronze
manifest entry is brought up to date so the next ingest neither reads it again nor counts it
as changed. The MLflow part is `erase_model_artifacts` (`erasure_files_artifacts`).

Plan, check, then change: `plan_landed_files` reads the files and writes nothing,
`LandedPlan.check` asks for MODIFY on every manifest it would write (on its schema where it
does not exist yet), and only `apply` writes, so an erasure (`governance.erasure.forget`)
checks every place it changes first.

Kill safety (a temporary file renamed over the original, a journal until the manifest is
written, interrupted erasures finished by the next): `erasure_files_manifest`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import FILES_ACTION, WRITE_FILES
from lakehouse_ml.governance import erasure_checks as checks
from lakehouse_ml.governance import erasure_files_manifest as manifest
from lakehouse_ml.governance.erasure_checks import Allowed
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
from lakehouse_ml.governance.privileges import MODIFY
from lakehouse_ml.governance.securables import SCHEMA, TABLE, parents
from lakehouse_ml.ingest.layout import LandedFile, Stray, landed_batches, read_landed, survey
from lakehouse_ml.medallion.spec import Source

__all__ = ["LandedPlan", "erase_landed_files", "erase_model_artifacts", "plan_landed_files"]


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
    body = lines[first:]
    for number, line, maybe in zip(range(first + 1, len(lines) + 1), body,
                                   view.candidates(body), strict=True):
        found = holds(view, source.format, header, content(line)) if maybe else Holds.NOTHING
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
            body = lines[first:]
            for line in (x for x, maybe in zip(body, view.candidates(body), strict=True)
                         if maybe):
                if holds(view, source.format, header, content(line)) is Holds.RECORD:
                    found.update(pii_values(view, source.format, header, content(line)))
    return frozenset(found)


def _declared_sources() -> list[Source]:
    from lakehouse_ml.domains import declared_domains  # the declarations, loaded on demand

    return [source for domain in declared_domains() for source in domain.sources]


@dataclass(frozen=True)
class _SourcePlan:
    source: Source
    interrupted: tuple[ErasedPlace, ...]
    """Erasures of its files killed before their manifest write, as a dry run reports them."""
    unchecked: tuple[ErasedPlace, ...]
    rewrites: tuple[_Rewrite, ...]


@dataclass(frozen=True)
class LandedPlan:
    """What an erasure would change in the landing zone and the bronze manifests (nothing is
    written until `apply`)."""

    catalog: Catalog
    landing: Path
    sources: tuple[_SourcePlan, ...] = ()

    def _changed(self) -> list[Source]:
        """Sources with a file to rewrite or an interrupted erasure to finish."""
        return [s.source for s in self.sources if s.rewrites or s.interrupted]

    def manifests(self) -> tuple[list[str], list[str]]:
        """The manifest tables `apply` would write (of sources with a file to rewrite or an
        interrupted erasure to finish), and the schemas (`catalog.schema`, once each) of those
        not created yet (landed, never ingested); each table's existence asked once."""
        existing, missing = [], []
        for source in self._changed():
            if self.catalog.exists(source.manifest_table):
                existing.append(source.manifest_table)
            else:
                missing.append(parents(TABLE, str(self.catalog.name(source.manifest_table)))[1][1])
        return existing, list(dict.fromkeys(missing))

    def check(self) -> list[Allowed]:
        """PermissionDenied (audited once) unless the principal holds MODIFY on every manifest
        `manifests()` finds, and MODIFY on the schema of every manifest not created yet;
        records nothing it allows, but returns each allowed check for
        `erasure_checks.record` to write once every check of the erasure has passed (a
        manifest's: `generateTemporaryTableCredential` READ_WRITE; a schema's:
        `FILES_ACTION` WRITE_VOLUME naming the schema or catalog checked and MODIFY).

        A landed file of a source never ingested has no manifest table to guard it; failing
        closed, changing it needs MODIFY on the schema its manifest table would be created in
        (inherited from the catalog, as any schema privilege; a schema not declared yet is
        checked on its catalog, and neither declared is a denial: `Access.check_within`).
        Unity Catalog's analogue: files in a volume are changed with WRITE VOLUME, a privilege
        on their container, not on a table."""
        tables, schemas = self.manifests()
        return [*(checks.table(self.catalog, t) for t in tables),
                *(checks.within(self.catalog, MODIFY, SCHEMA, schema, FILES_ACTION,
                                WRITE_FILES) for schema in schemas)]

    def places(self) -> list[ErasedPlace]:
        """The places as a dry run reports them (0 bytes rewritten)."""
        return [place for s in self.sources for place in (
            *s.interrupted, *s.unchecked, *(r.place(True) for r in s.rewrites))]

    def apply(self) -> list[ErasedPlace]:
        """Finish interrupted erasures, then rewrite the files and their manifest rows (every
        manifest read before any file is written); the places erased. Call `check` first."""
        repaired = {s.source.name: manifest.repair(self.catalog, self.landing, s.source, False)
                    if s.interrupted else [] for s in self.sources}
        rows = {s.source.name: manifest.manifest_rows(
            self.catalog, s.source, [r.file.relative for r in s.rewrites])
            for s in self.sources if s.rewrites}
        for s in self.sources:
            if s.rewrites:
                _erase(self.catalog, s.source, list(s.rewrites), rows[s.source.name])
        return [place for s in self.sources for place in (
            *repaired[s.source.name], *s.unchecked, *(r.place(False) for r in s.rewrites))]


def plan_landed_files(catalog: Catalog, landing_root: Path, subject: Subject,
                      sources: Sequence[Source] | None = None) -> LandedPlan:
    """Read every landed file of the declared sources (or `sources`) below `landing_root` and
    plan the rewrite of each holding `subject`, without its lines (see `erase_landed_files`).
    Writes nothing; never raises on what a file holds."""
    landing = Path(landing_root).resolve()
    chosen = _declared_sources() if sources is None else list(sources)
    identifiers = _identifiers(landing, chosen, subject)
    planned = []
    for source in chosen:
        view = _view(source, subject, identifiers)
        if view.dtype is None and not (view.pii and identifiers):
            continue
        unchecked, rewrites = [], []
        for file, data in _files(landing, source):
            if isinstance(data, Stray) or file is None:
                unchecked.append(ErasedPlace("landed_file", data.relative, 0,
                                             problem=f"not checked: {data.reason}"))
            elif (rewrite := _rewrite(source, view, file, data)) is not None:
                rewrites.append(rewrite)
        planned.append(_SourcePlan(source, tuple(manifest.repair(catalog, landing, source, True)),
                                   tuple(unchecked), tuple(rewrites)))
    return LandedPlan(catalog, landing, tuple(planned))


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
    says what). Never raises on what a file holds; the dry run writes nothing. The manifests
    are read and written as `principal` (default: the current principal): MODIFY on each
    manifest to change (of a source never ingested: on the schema its manifest would be
    created in, `LandedPlan.check`) is checked before any file is written (also in a dry run),
    PermissionDenied naming principal, privilege and securable when missing (audited once);
    once every check has passed, a real run records each allowed one (`erasure_checks`), a
    dry run none."""
    plan = plan_landed_files(Catalog(str(lakehouse_root), env, principal=principal),
                             landing_root, subject, sources)
    allowed = plan.check()
    if dry_run:
        return plan.places()
    checks.record(plan.catalog, allowed)
    return plan.apply()


def _erase(catalog: Catalog, source: Source, rewrites: list[_Rewrite],
           rows: pl.DataFrame | None) -> None:
    """Replace the files, then their manifest `rows` (read before: None when the source has
    no manifest yet), then drop the journals."""
    landed = {}
    for rewrite in rewrites:
        manifest.replace(rewrite.file.path, rewrite.file.relative, rewrite.before,
                         rewrite.after)
        landed[rewrite.file.relative] = (manifest.checksum(rewrite.before), rewrite.after)
    if rows is not None:
        manifest.record(catalog, source, landed, rows)
    for rewrite in rewrites:
        manifest.done(rewrite.file.path)
