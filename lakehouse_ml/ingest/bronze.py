"""Landing → bronze, exactly once per file and content.

A file is known by its path and its content's sha256. New files and files whose content changed
since they were ingested (re-landed) are read; their rows replace every earlier row of the same
file in bronze and rejects (replaceWhere), silver rows that came from a re-landed file's earlier
content are deleted (refining the day puts the new content's rows in their place; the days they
were on are recorded in `silver.<entity>_moves`, so gold redoes them), and the file's
manifest row is replaced last, with its new and previous checksums. A crash before that commit
only means the next run writes the same rows again in place of the old ones, never twice.

Two runs ingesting the same files at once: every write replaces rows by path, so Delta refuses
the second of two commits that touch the same files; the refused run re-reads the manifest and
retries only what is still to do. A manifest that holds a path twice is repaired first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from deltalake.exceptions import CommitFailedError, DeltaError

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.ingest.landing import NESTED, RESCUED, landed_records, parse
from lakehouse_ml.ingest.layout import LandedFile, Stray, read_landed, survey
from lakehouse_ml.lake.predicates import in_list
from lakehouse_ml.medallion.moves import record_moves
from lakehouse_ml.medallion.spec import Source

_UTC = pl.Datetime("us", "UTC")
LINEAGE = {
    "_source_file": pl.String, "_line": pl.Int64, "_record_id": pl.String,
    "_batch_id": pl.String, "_ingested_at": _UTC,
}
MANIFEST = pl.Schema({
    "path": pl.String, "size": pl.Int64, "checksum": pl.String, "previous_checksum": pl.String,
    "batch_id": pl.String, "lines": pl.Int64, "records": pl.Int64, "rejected": pl.Int64,
    "ingested_at": _UTC,
})
"""One row per landed file, for its last ingested content: `lines` is counted from the bytes
(not by the parser), `previous_checksum` is the content it replaced (null the first time)."""
CHUNK_BYTES = 256 * 1024 * 1024
COMMIT_ATTEMPTS = 5
"""A chunk refused by a concurrent commit is retried (files done meanwhile are left out)."""


def bronze_schema(source: Source) -> pl.Schema:
    return pl.Schema({**dict.fromkeys(source.schema, pl.String), RESCUED: pl.String,
                      NESTED: pl.String, **LINEAGE})


def rejects_schema() -> pl.Schema:
    return pl.Schema({"raw": pl.String, "reason": pl.String, **LINEAGE})


def create_once(catalog: Catalog, table: str, schema: pl.Schema, info: TableInfo) -> None:
    """`catalog.create_table`, safe against another process creating the table at the same
    time (its create wins; this one then records the metadata)."""
    try:
        catalog.create_table(table, schema, info)
    except DeltaError:  # a concurrent run created it between the check and the create
        if not catalog.exists(table):
            raise
        catalog.create_table(table, schema, info)


def add_missing_columns(catalog: Catalog, table: str, schema: pl.Schema) -> None:
    """Add the columns of `schema` that `table` (made by an older version) lacks, typed as in
    `schema` (null in existing rows)."""
    existing = catalog.schema(table)  # once: each call opens the Delta table
    if any(c not in existing for c in schema):
        catalog.append(table, pl.DataFrame(schema=schema), evolve=True)


def ensure_bronze_tables(catalog: Catalog, source: Source) -> None:
    comments, tags = source.column_docs()
    create_once(
        catalog, source.bronze_table, bronze_schema(source),
        TableInfo(owner=source.owner, comment=f"Raw {source.name} records as landed (text).",
                  tags={"layer": "bronze"}, column_tags=tags, column_comments=comments),
    )
    create_once(
        catalog, source.rejects_table, rejects_schema(),
        TableInfo(owner=source.owner, comment=f"Landed {source.name} lines that could not be "
                  "parsed, with the reason.", tags={"layer": "bronze"}),
    )
    create_once(
        catalog, source.manifest_table, MANIFEST,
        TableInfo(owner=source.owner, comment=f"Every {source.name} file ingested: path, size, "
                  "checksum (and the one it replaced), batch, landed lines.",
                  tags={"layer": "bronze"}),
    )
    add_missing_columns(catalog, source.bronze_table, bronze_schema(source))
    add_missing_columns(catalog, source.manifest_table, MANIFEST)


@dataclass(frozen=True)
class IngestReport:
    files: int
    """Files read: new ones and re-landed ones."""
    relanded: int
    """Files read again because their content changed."""
    lines: int
    records: int
    rejected: int
    skipped_files: int
    """Files already ingested with the same content."""
    ignored_files: int
    """Markers and in-progress files (`_*`, `.*`, `*.tmp`, the source's `ignore`)."""
    refused: list[Stray]
    """Paths in the day folders read that are not ingested, with the reason."""
    bronze_version: int
    rejects_sample: pl.DataFrame


def latest_manifest(catalog: Catalog, source: Source) -> pl.DataFrame:
    """The manifest, one row per path (its last ingestion), repairing the table if it holds a
    path twice (two runs of an older version appended the same file)."""
    manifest = catalog.read(source.manifest_table)
    latest = manifest.sort("ingested_at").unique("path", keep="last", maintain_order=True)
    if latest.height < manifest.height:
        twice = manifest.filter(pl.col("path").is_duplicated())["path"].unique().to_list()
        catalog.overwrite(source.manifest_table, latest.filter(pl.col("path").is_in(twice)),
                          predicate=in_list("path", twice))
    return latest


def _with_lineage(frame: pl.DataFrame, file: LandedFile, now: datetime) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(file.relative).alias("_source_file"),
        (pl.lit(file.relative + "#") + pl.col("_line").cast(pl.String)).alias("_record_id"),
        pl.lit(file.batch_id).alias("_batch_id"),
        pl.lit(now, dtype=_UTC).alias("_ingested_at"),
    )


def _chunks(files: Sequence[LandedFile], max_bytes: int) -> list[list[LandedFile]]:
    chunks: list[list[LandedFile]] = [[]]
    size = 0
    for file in files:
        if chunks[-1] and size + file.size > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(file)
        size += file.size
    return [c for c in chunks if c]


def _checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _to_ingest(
    files: Sequence[LandedFile], manifest: pl.DataFrame
) -> tuple[list[LandedFile], list[Stray]]:
    """Files that are new or whose content differs from their manifest row."""
    known = {path: (size, checksum) for path, size, checksum in
             manifest.select("path", "size", "checksum").iter_rows()}
    todo, unreadable = [], []
    for file in files:
        if file.relative not in known:
            todo.append(file)
            continue
        size, checksum = known[file.relative]
        if file.size != size:
            todo.append(file)
            continue
        data = read_landed(file)
        if isinstance(data, Stray):
            unreadable.append(data)
        elif _checksum(data) != checksum:
            todo.append(file)
    return todo, unreadable


@dataclass(frozen=True)
class _Chunk:
    entries: pl.DataFrame
    rejects: pl.DataFrame
    unreadable: list[Stray]


def _withdraw(catalog: Catalog, source: Source, paths: Sequence[str]) -> None:
    """Delete the silver rows of re-landed files' earlier content (refining their day puts the
    new content in place), recording the days and effective dates they were on as vacated so
    gold and the feature tables redo them."""
    columns = list(dict.fromkeys([*source.primary_key, source.event_time,
                                  *source.effective_dates]))
    old = (catalog.scan(source.silver_table).filter(pl.col("_source_file").is_in(paths))
           .select(*columns, "_batch_id").collect())
    record_moves(catalog, source, old, old.select(columns))
    catalog.delete(source.silver_table, in_list("_source_file", paths))


def _ingest_chunk(
    catalog: Catalog, source: Source, files: Sequence[LandedFile], previous: dict[str, str],
    now: datetime,
) -> _Chunk:
    """Write one group of files as one bronze commit (plus rejects, silver clean-up, manifest)."""
    columns = list(source.schema)
    records, rejects, manifest, unreadable = [], [], [], []
    for file in files:
        data = read_landed(file)
        if isinstance(data, Stray):
            unreadable.append(data)
            continue
        parsed = parse(data, source.format, columns, source.schema)
        records.append(_with_lineage(parsed.records, file, now))
        rejects.append(_with_lineage(parsed.rejects, file, now))
        manifest.append({
            "path": file.relative, "size": len(data), "checksum": _checksum(data),
            "previous_checksum": previous.get(file.relative), "batch_id": file.batch_id,
            "lines": landed_records(data) - parsed.header_lines,
            "records": parsed.records.height, "rejected": parsed.rejects.height,
            "ingested_at": now,
        })
    entries = pl.DataFrame(manifest, schema=MANIFEST)
    if not manifest:
        return _Chunk(entries, pl.DataFrame(schema=rejects_schema()), unreadable)
    paths = entries["path"].to_list()
    written = in_list("_source_file", paths)
    catalog.record_path_reads(paths)  # lineage: the landed files are the writes' sources
    catalog.overwrite(source.bronze_table, pl.concat(records), predicate=written)
    catalog.overwrite(source.rejects_table, pl.concat(rejects), predicate=written)
    relanded = entries.filter(pl.col("previous_checksum").is_not_null())["path"].to_list()
    if relanded and catalog.exists(source.silver_table):
        _withdraw(catalog, source, relanded)
    catalog.overwrite(source.manifest_table, entries, predicate=in_list("path", paths))
    return _Chunk(entries, pl.concat(rejects).select(rejects_schema().names()), unreadable)


def ingest(catalog: Catalog, source: Source, landing: str, batches: Sequence[str]) -> IngestReport:
    """Ingest every new or changed file of `batches` (landing folder dates) into bronze.

    Never raises on what a landed file holds: bad lines go to the rejects table, paths that
    are not data (links, files outside the layout) are in `refused`.
    """
    ensure_bronze_tables(catalog, source)
    found = survey(landing, source.name, batches, source.ignore)
    manifest = latest_manifest(catalog, source)
    files, unreadable = _to_ingest(found.files, manifest)
    previous = dict(manifest.select("path", "checksum").iter_rows())
    now = datetime.now(UTC)
    done = [_Chunk(pl.DataFrame(schema=MANIFEST), pl.DataFrame(schema=rejects_schema()), [])]
    for chunk in _chunks(files, CHUNK_BYTES):
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                done.append(_ingest_chunk(catalog, source, chunk, previous, now))
                break
            except CommitFailedError:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                manifest = latest_manifest(catalog, source)
                chunk, _ = _to_ingest(chunk, manifest)
                previous = dict(manifest.select("path", "checksum").iter_rows())
    entries = pl.concat([c.entries for c in done])
    rejects = pl.concat([c.rejects for c in done])
    return IngestReport(
        files=entries.height, relanded=entries["previous_checksum"].is_not_null().sum(),
        lines=int(entries["lines"].sum()), records=int(entries["records"].sum()),
        rejected=rejects.height, skipped_files=len(found.files) - len(files),
        ignored_files=found.ignored,
        refused=[*found.strays, *unreadable, *(s for c in done for s in c.unreadable)],
        bronze_version=catalog.version(source.bronze_table), rejects_sample=rejects.head(5),
    )
