"""Request bodies in the MLflow / Databricks serving formats, turned into columns.

Accepted (one format key per body, plus an optional ignored `params` object):
`dataframe_records` (list of row objects), `dataframe_split` ({columns, data}),
`instances` (list of row objects) and `inputs` (list of row objects, or one object of
equal-length columns). A row object may leave a column out: it is then null for that row.
Whatever the body holds, `parse` either returns columns or raises `PayloadError` (nesting too
deep for the parser, integers of more digits than Python converts, a key repeated in one
object, more rows than allowed, more distinct column names than `MAX_COLUMNS`). Both limits
are checked before any column is built, so the work done is linear in the body's size.
"""

from __future__ import annotations

import json
from typing import Any

from lakehouse_ml.features.row_lookup import Columns

FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
IGNORED = ("params",)
MAX_COLUMNS = 1_024
"""Most distinct column names one body may name (a model's inputs are far fewer)."""


class PayloadError(ValueError):
    """The request body is malformed; the message names the problem (answered with 400)."""


def rows_of(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def parse(body: bytes, max_rows: int = 10_000) -> Columns:
    """The body's columns (name → one value per row); at most `max_rows` rows."""
    return columns(load(body), max_rows)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict; a key given twice is refused, not silently overwritten."""
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise PayloadError(f"body repeats the key {shown(repeated)} in one JSON object: give "
                           "each key once")
    return document


def shown(value: Any, limit: int = 64) -> str:
    """The value's repr, cut to `limit` characters (a 4,000-digit integer or a megabyte
    string is named, not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def load(body: bytes) -> Any:
    """The body as a JSON document (NaN and ±Infinity literals are read as floats; a key
    repeated within one object is a `PayloadError` naming it)."""
    try:
        return json.loads(body, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    except PayloadError:
        raise
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise PayloadError(f"body is not valid JSON: {error}") from None


def columns(document: Any, max_rows: int) -> Columns:
    """A loaded body's columns; at most `max_rows` rows and `MAX_COLUMNS` distinct names."""
    return _columns(document, max_rows)


def _limit(rows: int, names: int, max_rows: int) -> None:
    """Refuse `rows` rows over `max_rows`, or `names` column names over `MAX_COLUMNS`."""
    if rows > max_rows:
        raise PayloadError(f"{rows} rows exceed the limit of {max_rows} rows per "
                           "request: split them into several requests")
    if names > MAX_COLUMNS:
        raise PayloadError(f"more than {MAX_COLUMNS} distinct column names exceed the limit "
                           f"of {MAX_COLUMNS} columns per request")


def _columns(document: Any, max_rows: int) -> Columns:
    if not isinstance(document, dict):
        raise PayloadError(f"body must be a JSON object with one of {list(FORMATS)}")
    found = [k for k in document if k in FORMATS]
    unknown = [k for k in document if k not in FORMATS and k not in IGNORED]
    if unknown or len(found) != 1:
        raise PayloadError(
            f"unknown payload format: expected exactly one of {list(FORMATS)}, got keys "
            f"{list(document)}"
        )
    (kind,) = found
    value = document[kind]
    if kind == "dataframe_split":
        return _split(value, max_rows)
    if kind == "inputs" and isinstance(value, dict):
        return _columnar(value, max_rows)
    return _records(value, kind, max_rows)


def _records(rows: Any, kind: str, max_rows: int) -> Columns:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise PayloadError(f"{kind} must be a list of objects (one per row)")
    if not rows:
        raise PayloadError(f"{kind}: no rows to score")
    _limit(len(rows), 0, max_rows)
    names: dict[str, None] = {}
    for row in rows:  # stops at the first name over the limit: never n rows × n names
        for name in row:
            if name not in names:
                names[name] = None
                _limit(0, len(names), max_rows)
    return {name: [row.get(name) for row in rows] for name in names}


def _split(value: Any, max_rows: int) -> Columns:
    if not isinstance(value, dict) or "columns" not in value or "data" not in value:
        raise PayloadError("dataframe_split must be an object with 'columns' and 'data'")
    names, data = value["columns"], value["data"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PayloadError("dataframe_split.columns must be a list of column names")
    _limit(0, len(names), max_rows)
    if len(set(names)) != len(names):
        raise PayloadError(f"dataframe_split.columns has duplicates: {names}")
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise PayloadError("dataframe_split.data must be a list of rows (lists)")
    if not data:
        raise PayloadError("dataframe_split: no rows to score")
    _limit(len(data), 0, max_rows)
    for index, row in enumerate(data):
        if len(row) != len(names):
            raise PayloadError(
                f"dataframe_split.data row {index} has {len(row)} values for "
                f"{len(names)} columns"
            )
    return {name: [row[i] for row in data] for i, name in enumerate(names)}


def _columnar(value: dict[str, Any], max_rows: int) -> Columns:
    _limit(0, len(value), max_rows)
    if not all(isinstance(v, list) for v in value.values()):
        raise PayloadError("inputs as an object must map each column to a list of values")
    lengths = {name: len(v) for name, v in value.items()}
    if len(set(lengths.values())) > 1:
        raise PayloadError(f"inputs columns differ in length: {lengths}")
    if not any(lengths.values()):
        raise PayloadError("inputs: no rows to score")
    _limit(max(lengths.values()), 0, max_rows)
    return dict(value)
