"""Landing → bronze, exactly once per file.

New files are found by the manifest. Their rows replace any rows of the same files in bronze
(replaceWhere), and the manifest is written last: a crash before it only means the next run
writes the same rows again in place of the old ones, never twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.ingest.landing import RESCUED, LandedFile, landed_files, parse_file
from lakehouse_ml.lake.predicates import in_list
from lakehouse_ml.medallion.spec import Source

_UTC = pl.Datetime("us", "UTC")
LINEAGE = {
    "_source_file": pl.String, "_line": pl.Int64, "_record_id": pl.String,
    "_batch_id": pl.String, "_ingested_at": _UTC,
}
MANIFEST = pl.Schema({
    "path": pl.String, "size": pl.Int64, "checksum": pl.String, "batch_id": pl.String,
    "lines": pl.Int64, "records": pl.Int64, "rejected": pl.Int64, "ingested_at": _UTC,
})


def bronze_schema(source: Source) -> pl.Schema:
    return pl.Schema({**dict.fromkeys(source.schema, pl.String), RESCUED: pl.String, **LINEAGE})


def rejects_schema() -> pl.Schema:
    return pl.Schema({"raw": pl.String, "reason": pl.String, **LINEAGE})


def ensure_bronze_tables(catalog: Catalog, source: Source) -> None:
    comments, tags = source.column_docs()
    catalog.create_table(
        source.bronze_table, bronze_schema(source),
        TableInfo(owner=source.owner, comment=f"Raw {source.name} records as landed (text).",
                  tags={"layer": "bronze"}, column_tags=tags, column_comments=comments),
    )
    catalog.create_table(
        source.rejects_table, rejects_schema(),
        TableInfo(owner=source.owner, comment=f"Landed {source.name} lines that could not be "
                  "parsed, with the reason.", tags={"layer": "bronze"}),
    )
    catalog.create_table(
        source.manifest_table, MANIFEST,
        TableInfo(owner=source.owner, comment=f"Every {source.name} file ingested: "
                  "path, size, checksum, batch.", tags={"layer": "bronze"}),
    )


@dataclass(frozen=True)
class IngestReport:
    files: int
    lines: int
    records: int
    rejected: int
    skipped_files: int
    bronze_version: int
    rejects_sample: pl.DataFrame


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


def _ingest_chunk(
    catalog: Catalog, source: Source, files: Sequence[LandedFile], now: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Write one group of files as one bronze commit; return (manifest rows, rejects)."""
    columns = list(source.schema)
    records, rejects, manifest = [], [], []
    for file in files:
        parsed = parse_file(file.path, source.format, columns)
        records.append(_with_lineage(parsed.records, file, now))
        rejects.append(_with_lineage(parsed.rejects, file, now))
        manifest.append({
            "path": file.relative, "size": file.size, "checksum": parsed.checksum,
            "batch_id": file.batch_id, "lines": parsed.lines, "records": parsed.records.height,
            "rejected": parsed.rejects.height, "ingested_at": now,
        })
    where = in_list("_source_file", [f.relative for f in files])
    catalog.overwrite(source.bronze_table, pl.concat(records), predicate=where)
    catalog.overwrite(source.rejects_table, pl.concat(rejects), predicate=where)
    entries = pl.DataFrame(manifest, schema=MANIFEST)
    catalog.append(source.manifest_table, entries)
    return entries, pl.concat(rejects)


CHUNK_BYTES = 256 * 1024 * 1024


def ingest(catalog: Catalog, source: Source, landing: str, batches: Sequence[str]) -> IngestReport:
    """Ingest every not-yet-ingested file of `batches` (landing folder dates) into bronze."""
    ensure_bronze_tables(catalog, source)
    seen = set(catalog.read(source.manifest_table, columns=["path"])["path"].to_list())
    candidates = landed_files(landing, source.name, batches)
    files = [f for f in candidates if f.relative not in seen]
    now = datetime.now(UTC)
    manifests = [pl.DataFrame(schema=MANIFEST)]
    rejects = [pl.DataFrame(schema=rejects_schema())]
    for chunk in _chunks(files, CHUNK_BYTES):
        entries, rejected = _ingest_chunk(catalog, source, chunk, now)
        manifests.append(entries)
        rejects.append(rejected.select(rejects_schema().names()))
    manifest, all_rejects = pl.concat(manifests), pl.concat(rejects)
    return IngestReport(
        files=len(files), lines=int(manifest["lines"].sum()),
        records=int(manifest["records"].sum()), rejected=all_rejects.height,
        skipped_files=len(candidates) - len(files),
        bronze_version=catalog.version(source.bronze_table), rejects_sample=all_rejects.head(5),
    )
