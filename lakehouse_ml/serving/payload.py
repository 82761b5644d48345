"""Request bodies in the MLflow / Databricks serving formats, turned into columns.

Accepted (one format key per body, plus an optional ignored `params` object, as in MLflow's
scoring protocol, of at most `MAX_PARAMS_BYTES` encoded):
`dataframe_records` (list of row objects), `dataframe_split` ({columns, data[, index]}),
`instances` (list of row objects) and `inputs` (list of row objects, or one object of
equal-length columns). A row object may leave a column out: it is then null for that row.
Whatever the body holds, `parse` either returns columns or raises `PayloadError` (nesting too
deep for the parser, integers of more digits than Python converts, a key repeated in one
object, more rows than allowed, more distinct column names than `MAX_COLUMNS`). Both limits
are checked before any column is built, so the work done is linear in the body's size.
Before the body is parsed at all, its JSON values are counted (an upper bound, from three byte
scans): beyond what `max_rows` rows of the served columns need (`max_values`), it is refused,
so a body of millions of tiny values never costs seconds of parsing.
Messages quote client input only through `shown` and `listed` (cut values, at most
`LISTED` items), never whole.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from lakehouse_ml.features.row_lookup import Columns

FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
IGNORED = ("params",)
MAX_COLUMNS = 1_024
"""Most distinct column names one body may name (a model's inputs are far fewer)."""
MAX_PARAMS_BYTES = 64 * 1024
"""Largest `params` object, JSON-encoded (the models ignore it)."""
SPLIT_KEYS = ("columns", "data", "index")
"""The keys of a `dataframe_split` object (pandas' split orient)."""
LISTED = 10
"""Items of a client's list quoted in a message, at most."""


class PayloadError(ValueError):
    """The request body is malformed; the message names the problem (answered with 400)."""


def rows_of(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def parse(body: bytes, max_rows: int = 10_000, width: int = MAX_COLUMNS) -> Columns:
    """The body's columns (name → one value per row); at most `max_rows` rows of `width`
    columns' worth of JSON values."""
    return columns(load(body, max_values(max_rows, width)), max_rows)


def max_values(max_rows: int, width: int) -> int:
    """Most JSON values a body of `max_rows` rows of `width` columns may hold: each row's
    values and its container, twice over (the count includes commas inside strings), plus
    what `params` may hold."""
    return 2 * (max_rows + 1) * (width + 2) + MAX_PARAMS_BYTES


def _values(body: bytes) -> int:
    """At least the number of JSON values in `body`: every value but the first of its
    array or object follows a `,`, the first follows its `[` or `{`, plus the root."""
    return 1 + body.count(b",") + body.count(b"[") + body.count(b"{")


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


def listed(items: Iterable[Any], show: Callable[[Any], str] = shown) -> str:
    """A client's list in a message: at most `LISTED` items, each `shown`, then how many
    more (100,000 keys or a list of megabyte names are named, not echoed)."""
    items = list(items)
    more = f", ... and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return "[" + ", ".join(show(item) for item in items[:LISTED]) + more + "]"


def load(body: bytes, values: int = max_values(10_000, MAX_COLUMNS)) -> Any:
    """The body as a JSON document (NaN and ±Infinity literals are read as floats; a key
    repeated within one object is a `PayloadError` naming it); a body that may hold more
    than `values` JSON values is refused before it is parsed."""
    if _values(body) > values:
        raise PayloadError(f"body holds more JSON values than the {values} that the limit of "
                           "rows per request needs: split it into several requests, keep "
                           f"params under {MAX_PARAMS_BYTES} bytes")
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
            f"{listed(document)}"
        )
    _params(document.get("params", {}))
    (kind,) = found
    value = document[kind]
    if kind == "dataframe_split":
        return _split(value, max_rows)
    if kind == "inputs" and isinstance(value, dict):
        return _columnar(value, max_rows)
    return _records(value, kind, max_rows)


def _params(params: Any) -> None:
    if not isinstance(params, dict):
        raise PayloadError("params must be an object (parameter name → value), as in MLflow's "
                           f"scoring protocol, got {type(params).__name__}")
    if len(json.dumps(params)) > MAX_PARAMS_BYTES:
        raise PayloadError(f"params exceed the limit of {MAX_PARAMS_BYTES} bytes (encoded)")


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
    if extra := [k for k in value if k not in SPLIT_KEYS]:
        raise PayloadError(f"dataframe_split takes only {list(SPLIT_KEYS)}, got "
                           f"{listed(extra)}")
    names, data = value["columns"], value["data"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PayloadError("dataframe_split.columns must be a list of column names")
    _limit(0, len(names), max_rows)
    if len(set(names)) != len(names):
        repeated = [n for n, count in Counter(names).items() if count > 1]
        raise PayloadError(f"dataframe_split.columns has duplicates: {listed(repeated)}")
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
        raise PayloadError("inputs columns differ in length: "
                           + listed(lengths.items(), lambda nl: f"{shown(nl[0])}: {nl[1]}"))
    if not any(lengths.values()):
        raise PayloadError("inputs: no rows to score")
    _limit(max(lengths.values()), 0, max_rows)
    return dict(value)
