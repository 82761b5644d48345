"""Rows of a data subject removed from a table stored as an artifact file: MLflow's input
examples (`{"columns", "data"}` split orient, `serving_input_example.json`'s
`{"dataframe_split": ...}` and `{"dataframe_records": [...]}`), tables logged with
`mlflow.log_table` (split orient JSON), and Parquet or CSV files with the subject's column.

A row is the subject's when its cell in the subject's column equals the value: numbers
compared as numbers (`42` and `42.0` are 42; `420` is not), text exactly. A file without the
column, or that is not such a table, is left alone.
"""

from __future__ import annotations

import io
import json
from typing import Any

import polars as pl

from lakehouse_ml.governance.erasure_places import Subject

TABLE_SUFFIXES = (".json", ".parquet", ".csv")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def is_subject(cell: object, subject: Subject) -> bool:
    """One JSON cell is the subject's value."""
    if isinstance(cell, bool) or cell is None:
        return False
    if isinstance(cell, int | float):
        wanted = _number(subject.value)
        return wanted is not None and float(cell) == wanted
    return isinstance(cell, str) and cell == subject.value


def _split(doc: dict[str, Any], subject: Subject) -> int:
    """Drop the subject's rows of a split-orient table in place; rows dropped."""
    columns, data = doc.get("columns"), doc.get("data")
    if not isinstance(columns, list) or not isinstance(data, list) or subject.column not in columns:
        return 0
    at = columns.index(subject.column)
    keep = [not (isinstance(row, list) and len(row) > at and is_subject(row[at], subject))
            for row in data]
    doc["data"] = [row for row, k in zip(data, keep, strict=True) if k]
    if isinstance(doc.get("index"), list) and len(doc["index"]) == len(keep):
        doc["index"] = [i for i, k in zip(doc["index"], keep, strict=True) if k]
    return keep.count(False)


def _records(rows: list[Any], subject: Subject) -> tuple[list[Any], int]:
    kept = [r for r in rows if not (isinstance(r, dict) and is_subject(r.get(subject.column),
                                                                      subject))]
    return kept, len(rows) - len(kept)


def _json(data: bytes, subject: Subject) -> tuple[bytes, int] | None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return None
    dropped = 0
    if isinstance(doc, list):
        doc, dropped = _records(doc, subject)
    elif isinstance(doc, dict):
        dropped = _split(doc, subject)
        if isinstance(doc.get("dataframe_split"), dict):
            dropped += _split(doc["dataframe_split"], subject)
        if isinstance(doc.get("dataframe_records"), list):
            doc["dataframe_records"], more = _records(doc["dataframe_records"], subject)
            dropped += more
    if not dropped:
        return None
    indent = 2 if data.lstrip()[1:2] in (b"\n", b"\r") else None  # as MLflow wrote it
    return json.dumps(doc, indent=indent).encode("utf-8"), dropped


def _match(frame: pl.DataFrame, subject: Subject) -> pl.Expr:
    dtype = frame.schema[subject.column]
    wanted = _number(subject.value)
    if dtype.is_numeric() and wanted is not None:
        return pl.col(subject.column).cast(pl.Float64) == wanted
    return pl.col(subject.column).cast(pl.String) == subject.value


def _frame(data: bytes, suffix: str, subject: Subject) -> tuple[bytes, int] | None:
    try:
        frame = (pl.read_parquet(io.BytesIO(data)) if suffix == ".parquet"
                 else pl.read_csv(io.BytesIO(data)))
    except Exception:  # noqa: BLE001 - not a table this module reads: left alone
        return None
    if subject.column not in frame.columns:
        return None
    kept = frame.filter(~_match(frame, subject).fill_null(False))
    if kept.height == frame.height:
        return None
    out = io.BytesIO()
    if suffix == ".parquet":
        kept.write_parquet(out)
    else:
        kept.write_csv(out)
    return out.getvalue(), frame.height - kept.height


def without_subject(data: bytes, suffix: str, subject: Subject) -> tuple[bytes, int] | None:
    """(the file's new bytes, rows dropped), or None when it holds no row of the subject (or
    is not a table); never raises on the bytes."""
    if suffix == ".json":
        return _json(data, subject)
    if suffix in (".parquet", ".csv"):
        return _frame(data, suffix, subject)
    return None
