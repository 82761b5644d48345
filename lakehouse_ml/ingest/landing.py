"""Reading landed files into raw string records, one row per line, bad lines set aside.

Every value is kept as text in bronze (the contract types it in silver), so a wrong type never
stops ingestion; columns a source did not declare are kept as JSON in `_rescued_data`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lakehouse_ml.medallion.spec import BronzeFormat

RESCUED = "_rescued_data"


@dataclass(frozen=True)
class LandedFile:
    path: Path
    relative: str
    """Path below the landing root: the file's identity in the manifest and in `_source_file`."""
    batch_id: str
    size: int


@dataclass(frozen=True)
class ParsedFile:
    records: pl.DataFrame
    """Declared columns (strings), `_rescued_data` and `_line`."""
    rejects: pl.DataFrame
    """`_line`, `raw`, `reason` for every line that could not be read."""
    lines: int
    checksum: str
    """sha256 of the bytes parsed."""


Parsed = tuple[pl.DataFrame, pl.DataFrame, int]
"""What a format's parser returns: records, rejects, lines."""


def landed_files(landing: str, source: str, batches: Iterable[str]) -> list[LandedFile]:
    """Files dropped under `<landing>/<source>/<batch>/`, in a stable order (not read: a file
    is read once, when it is ingested)."""
    root = Path(landing)
    found = []
    for batch in sorted(batches):
        folder = root / source / batch
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            found.append(LandedFile(path, path.relative_to(root).as_posix(), batch,
                                    path.stat().st_size))
    return found


def landed_batches(landing: str, source: str) -> list[str]:
    folder = Path(landing) / source
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).struct.json_encode() if isinstance(d, pl.Struct) else pl.col(c).cast(pl.String)
        for c, d in frame.schema.items()
    )


def _shape(frame: pl.DataFrame, columns: Sequence[str], lines: pl.Series) -> pl.DataFrame:
    """Declared columns in order (missing ones null); undeclared ones packed into JSON."""
    frame = _as_text(frame)
    extra = [c for c in frame.columns if c not in columns]
    rescued = (
        pl.when(pl.any_horizontal(pl.col(extra).is_not_null()))
        .then(pl.struct(extra).struct.json_encode())
        .otherwise(None)
        if extra
        else pl.lit(None, dtype=pl.String)
    )
    return frame.select(
        *[pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in columns],
        rescued.alias(RESCUED),
        lines.alias("_line"),
    )


def _rejects(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"_line": pl.Int64, "raw": pl.String, "reason": pl.String}, orient="row"
    )


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)


def _parse_clean_jsonl(data: bytes, columns: Sequence[str]) -> Parsed | None:
    """The whole file in one polars read; None if any line is blank, broken or not an object
    (then every line is read on its own to say which)."""
    lines = _line_count(data)
    if b"\n\n" in data or data.startswith(b"\n"):
        return None
    try:
        frame = pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except Exception:  # noqa: BLE001 - any failure means: find the bad lines one by one
        return None
    if frame.height != lines or any(isinstance(d, pl.List) for d in frame.dtypes):
        return None
    numbers = pl.int_range(1, lines + 1, eager=True, dtype=pl.Int64)
    return _shape(frame, columns, numbers), _rejects([]), lines


def _parse_jsonl(data: bytes, columns: Sequence[str]) -> Parsed:
    clean = _parse_clean_jsonl(data, columns)
    if clean is not None:
        return clean
    text_lines = data.decode("utf-8", errors="replace").split("\n")
    if text_lines and text_lines[-1] == "":
        text_lines.pop()
    good: list[str] = []
    numbers: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for number, line in enumerate(text_lines, start=1):
        try:
            value = json.loads(line)
        except ValueError as error:
            bad.append((number, line, f"malformed JSON: {error}"))
            continue
        if not isinstance(value, dict):
            bad.append((number, line, f"not a JSON object: {type(value).__name__}"))
            continue
        good.append(line)
        numbers.append(number)
    frame = (
        pl.read_ndjson(io.StringIO("\n".join(good)), infer_schema_length=None)
        if good
        else pl.DataFrame()
    )
    numbered = pl.Series(numbers, dtype=pl.Int64)
    return _shape(frame, columns, numbered), _rejects(bad), len(text_lines)


def _parse_csv(data: bytes, columns: Sequence[str]) -> Parsed:
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    rows = list(reader)
    if not rows:
        return _shape(pl.DataFrame(), columns, pl.Series([], dtype=pl.Int64)), _rejects([]), 0
    header, body = rows[0], rows[1:]
    good, numbers, bad = [], [], []
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raw = ",".join(row)
            bad.append((number, raw, f"expected {len(header)} fields, got {len(row)}"))
            continue
        good.append([value if value != "" else None for value in row])
        numbers.append(number)
    frame = pl.DataFrame(good, schema={h: pl.String for h in header}, orient="row")
    return _shape(frame, columns, pl.Series(numbers, dtype=pl.Int64)), _rejects(bad), len(body)


def parse_file(path: Path, fmt: BronzeFormat, columns: Sequence[str]) -> ParsedFile:
    """Read one landed file; never raises on bad content, only on an unknown format."""
    parsers = {"jsonl": _parse_jsonl, "csv": _parse_csv}
    if fmt not in parsers:
        raise ValueError(f"{path}: unknown landing format {fmt!r} (expected 'jsonl' or 'csv')")
    data = path.read_bytes()
    return ParsedFile(*parsers[fmt](data, columns), checksum=hashlib.sha256(data).hexdigest())
