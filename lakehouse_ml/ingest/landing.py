"""Reading landed bytes into raw string records, one row per line, bad lines set aside.

Every value is kept as text in bronze (the contract types it in silver), so a wrong type never
stops ingestion: a nested value (array or object) of a declared column is kept as its JSON text
and the line's `_nested_columns` names it (a JSON list, null when none), so the contract can
refuse it while a string that merely looks like JSON is kept; fields a source did not declare
are kept as a JSON object in `_rescued_data`, on the lines that have them. A UTF-8 byte-order
mark is dropped and `\\r\\n` or a lone `\\r` ends a line like `\\n`.

A JSON value is never coerced silently: a number or boolean where the contract declares a
string is kept as its JSON text and named in `_nested_columns` too (the contract refuses it:
`vessel: expected a string, got number 123`), and a line giving one key twice is a reject
(`duplicate key 'delayed'`), never read as its first or its last value.

Whatever the bytes hold, parsing never raises: a line that is not valid UTF-8, not a JSON
object, nested too deeply, longer than `MAX_LINE_BYTES`, or (CSV) of the wrong field count or
with a quote in a field not quoted whole is a reject with its reason; a CSV whose header is
unreadable, repeats a name or lacks a declared column has every line rejected (the header says
what the values mean, so none can be trusted).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from lakehouse_ml.medallion.spec import BronzeFormat

RESCUED = "_rescued_data"
NESTED = "_nested_columns"
"""Per line, the declared columns whose JSON value the contract refuses for its JSON type, as
a JSON list of names (null when none): an array or object (any column), or a number or boolean
where the contract declares a string (`strings` of `parse`). Named for its first use."""
BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 1024 * 1024
"""Longer lines are rejected; their `raw` keeps the first `_RAW_PREVIEW` characters."""
_RAW_PREVIEW = 1024
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A JSON surrogate escape: polars would replace an unpaired one, so such files are read line
by line."""


@dataclass(frozen=True)
class ParsedFile:
    records: pl.DataFrame
    """Declared columns (strings), `_rescued_data`, `_nested_columns` and `_line`."""
    rejects: pl.DataFrame
    """`_line`, `raw`, `reason` for every line that could not be read."""
    header_lines: int
    """Lines that were a header accepted as such (CSV: 1), not records."""


class _Rejected(Exception):
    """A line that cannot be a record, with the reason."""


def landed_records(data: bytes) -> int:
    """Records in a landed file counted from its bytes alone, independently of any parser:
    its lines (ended by `\\n`, `\\r\\n` or `\\r`; a last line without an end counts), a leading
    byte-order mark not counting as one. A CSV's accepted header is subtracted by the caller."""
    data = data.removeprefix(BOM)
    ends = data.count(b"\n")
    if b"\r" in data:
        ends += data.count(b"\r") - data.count(b"\r\n")
    return ends + (0 if not data or data.endswith((b"\n", b"\r")) else 1)


def _normalised(data: bytes) -> bytes:
    data = data.removeprefix(BOM)
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


def _split(body: bytes) -> list[bytes]:
    lines = body.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _raw(line: bytes) -> str:
    """A line as text for the rejects table: bytes that are not UTF-8 shown as `\\xNN`."""
    return line[:_RAW_PREVIEW * 4].decode("utf-8", errors="backslashreplace")[:_RAW_PREVIEW]


def _decoded(line: bytes) -> str:
    if len(line) > MAX_LINE_BYTES:
        raise _Rejected(f"line of {len(line):,} bytes: longer than the {MAX_LINE_BYTES:,}-byte "
                        f"limit (raw holds its first {_RAW_PREVIEW:,} characters)")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Rejected(f"not valid UTF-8: byte 0x{line[error.start]:02x} at offset "
                        f"{error.start} (raw shows such bytes as \\xNN)") from None


def _checked(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Rejected("unpaired surrogate escape (\\ud800-\\udfff) in a string") from None
    return text


def _empty_records(columns: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={**dict.fromkeys(columns, pl.String), RESCUED: pl.String,
                                NESTED: pl.String, "_line": pl.Int64})


def _rejects(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"_line": pl.Int64, "raw": pl.String, "reason": pl.String}, orient="row"
    )


def _records(
    rows: list[dict[str, str | None]], columns: Sequence[str], numbers: list[int]
) -> pl.DataFrame:
    schema = {**dict.fromkeys(columns, pl.String), RESCUED: pl.String, NESTED: pl.String}
    frame = pl.DataFrame(rows, schema=schema)
    return frame.with_columns(pl.Series("_line", numbers, dtype=pl.Int64))


def _rescued(extra: Sequence[str]) -> pl.Expr:
    """The undeclared fields a line has (non-null), as one JSON object; null if none."""
    if not extra:
        return pl.lit(None, dtype=pl.String)
    pieces = [  # '{"c":v}' without its braces, for the lines where c is set
        pl.when(pl.col(c).is_not_null()).then(pl.struct(c).struct.json_encode().str.slice(1))
        .str.strip_suffix("}")
        for c in extra
    ]
    joined = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return pl.when(pl.any_horizontal(pl.col(extra).is_not_null())).then(
        pl.concat_str(pl.lit("{"), joined, pl.lit("}"))
    )


def _shape(frame: pl.DataFrame, columns: Sequence[str], lines: pl.Series) -> pl.DataFrame:
    """Declared columns in order (missing ones null), undeclared ones in `_rescued_data`; no
    value of `frame` is nested (callers read nested lines one by one)."""
    extra = [c for c in frame.columns if c not in columns]
    return frame.select(
        *[pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String).alias(c)
          for c in columns],
        _rescued(extra).alias(RESCUED),
        pl.lit(None, pl.String).alias(NESTED),
        lines.alias("_line"),
    )


# ------------------------------------------------------------------------------------- JSON lines
def _longest_line(body: bytes) -> int:
    ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n"))
    return int(np.diff(ends, prepend=-1, append=len(body)).max()) - 1


def _compact(text: pl.Expr) -> pl.Expr:
    """JSON lines without the spaces `json.dumps` puts after its separators."""
    return text.str.replace_all('": ', '":', literal=True).str.replace_all(', "', ',"',
                                                                             literal=True)


def _read_exactly(body: bytes, frame: pl.DataFrame, types: dict[str, pl.DataType]) -> bool:
    """Whether polars' reading `frame` of the flat JSON lines `body` is exact: no line gives a
    key twice (polars keeps the first value, `json` the last), no `str` column of `types`
    holds a number or boolean, and no integer column was read as floats (`1` would become
    `1.0`).

    A line equal to polars' own encoding of the row it read (`{"a":1,"b":null}`, keys in the
    frame's order, after `_compact`) proves it: it gives every key once and each value with
    the JSON type read. The other lines are read again by `json`, one by one, and must hold
    no duplicate key, nothing but strings in a column polars read as strings and no integer
    in one it read as floats (declared or not: `_rescued_data` keeps JSON types too). A `str`
    column of `types` that polars read as numbers or booleans is not exact either.

    Cost: polars-written files (the demo's) match whole, for about an eighth of polars' read
    (one `write_ndjson`); other files pay `json` on the lines that differ (keys in another
    order, missing keys, escaped non-ASCII text). Equal after `_compact` means equal as
    JSON: removing spaces inside a string would change the value polars encodes, and no
    removal drops a key."""
    if any(types.get(c) == pl.String and d not in (pl.String, pl.Null)
           for c, d in frame.schema.items()):
        return False
    if not frame.width:
        return True  # `{}` on every line: no key to give twice
    written = io.BytesIO()
    frame.write_ndjson(written)  # the encoding below, each line ended, as bytes
    if written.getvalue() in (body, body + b"\n"):
        return True
    encoded = frame.select(pl.struct(pl.all()).struct.json_encode().alias("_e"))
    text = body.decode("utf-8").removesuffix("\n")  # polars read it: valid UTF-8
    lines = pl.Series("_l", [text]).str.split("\n").explode()
    differ = encoded.with_columns(lines).filter(_compact(pl.col("_l")) != pl.col("_e"))
    texts = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    floats = [c for c, dtype in frame.schema.items() if dtype.is_float()]
    try:
        for line in differ["_l"]:
            value = json.loads(line, object_pairs_hook=_unique_keys)
            if any(not isinstance(value.get(c), str | None) for c in texts) or any(
                    isinstance(value.get(c), int) for c in floats):
                return False  # polars made it a string, or `1` a `1.0`
    except _Rejected:
        return False
    return True


def _clean_jsonl(body: bytes, columns: Sequence[str], types: dict[str, pl.DataType]
                 ) -> pl.DataFrame | None:
    """The whole file in one polars read when every line is a flat JSON object (one `{`, no
    `[`) of valid UTF-8 under the size limit that polars reads exactly (`_read_exactly`);
    None otherwise (then each line is read on its own)."""
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if body.count(b"{") != lines or b"[" in body:  # nested values (polars takes minutes on
        return None  # deep ones) or objects in strings: read line by line
    if b"\n\n" in body or body.startswith(b"\n") or _SURROGATE.search(body):
        return None
    if len(body) > MAX_LINE_BYTES and _longest_line(body) > MAX_LINE_BYTES:
        return None
    try:  # polars refuses bytes that are not UTF-8
        frame = pl.read_ndjson(io.BytesIO(body), infer_schema_length=None)
    except Exception:  # noqa: BLE001 - any failure means: find the bad lines one by one
        return None
    nested = any(isinstance(d, pl.List | pl.Struct | pl.Array | pl.Object) for d in frame.dtypes)
    if frame.height != lines or nested or not _read_exactly(body, frame, types):
        return None
    return _shape(frame, columns, pl.int_range(1, lines + 1, eager=True, dtype=pl.Int64))


def _json_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _checked(value)
    return _checked(json.dumps(value, ensure_ascii=False))


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object's members (`json`'s `object_pairs_hook`); a key given twice rejects the line."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Rejected(f"duplicate key {_checked(key)!r}")
            seen.add(key)
    return found


def _jsonl_record(line: bytes, columns: Sequence[str], strings: Collection[str] = ()
                  ) -> dict[str, str | None]:
    try:
        value = json.loads(_decoded(line), object_pairs_hook=_unique_keys)
    except RecursionError:
        raise _Rejected("JSON nested too deeply to read") from None
    except ValueError as error:
        raise _Rejected(f"malformed JSON: {error}") from None
    if not isinstance(value, dict):
        raise _Rejected(f"not a JSON object: {type(value).__name__}")
    extra = {k: v for k, v in value.items() if k not in columns and v is not None}
    try:
        row = {c: _json_text(value.get(c)) for c in columns}
        row[RESCUED] = _json_text(extra) if extra else None
    except RecursionError:
        raise _Rejected("JSON nested too deeply to read") from None
    refused = [c for c in columns if isinstance(value.get(c), list | dict) or (
        c in strings and isinstance(value.get(c), bool | int | float))]
    row[NESTED] = json.dumps(refused, ensure_ascii=False) if refused else None
    return row


def _parse_jsonl(data: bytes, columns: Sequence[str], types: dict[str, pl.DataType]
                 ) -> ParsedFile:
    body = _normalised(data)
    clean = _clean_jsonl(body, columns, types) if body else None
    if clean is not None:
        return ParsedFile(clean, _rejects([]), 0)
    strings = {c for c, dtype in types.items() if dtype == pl.String}
    good, numbers, bad = [], [], []
    for number, line in enumerate(_split(body), start=1):
        try:
            good.append(_jsonl_record(line, columns, strings))
            numbers.append(number)
        except _Rejected as reason:
            bad.append((number, _raw(line), str(reason)))
    return ParsedFile(_records(good, columns, numbers), _rejects(bad), 0)


# -------------------------------------------------------------------------------------------- CSV
_CSV_FIELD = re.compile(r'"(?:[^"]|"")*"(?=,|\Z)|[^,"]*(?=,|\Z)')
"""One RFC 4180 field followed by a comma or the line's end: quoted whole (a quote inside
doubled) or holding no quote."""


def _bare_quote(text: str) -> int | None:
    """The 0-based index of the first field of `text` (a line `csv` read without error) that
    holds a quote without being quoted whole (`x",2`: Python's `csv` takes it as text), or
    None."""
    position, field = 0, 0
    while (match := _CSV_FIELD.match(text, position)) is not None:
        if match.end() == len(text):
            return None
        position, field = match.end() + 1, field + 1
    return field


def _csv_row(text: str, header: Sequence[str] = ()) -> list[str] | _Rejected:
    """One line's fields; a line is never continued by the next (an unclosed quote is an
    error, and so is a quote inside an unquoted field, which may be the second half of a
    line-split quoted one), so one bad line cannot swallow, or become, the lines after it.
    `header`: the column names, to name a field in the reason (the header line: none)."""
    if '"' not in text:
        return text.split(",") if text else []
    try:
        row = next(csv.reader((text,), strict=True), [])
    except csv.Error as error:
        return _Rejected(f"malformed CSV: {error}")
    if (field := _bare_quote(text)) is not None:
        name = f" ({header[field]})" if field < len(header) else ""
        return _Rejected(f"malformed CSV: field {field + 1}{name} holds a quote but is not "
                         "quoted whole (RFC 4180: a quoted field starts and ends with a quote, "
                         "one inside it doubled)")
    return row


def _header_problem(header: list[str] | _Rejected, columns: Sequence[str]) -> str | None:
    if isinstance(header, _Rejected):
        return str(header)
    repeated = sorted(h for h, n in Counter(header).items() if n > 1)
    if repeated:
        return f"the header repeats {', '.join(map(repr, repeated))}"
    if "" in header:
        return "the header has an empty column name"
    missing = [c for c in columns if c not in header]
    if missing:
        return (f"the header lacks the declared column(s) {', '.join(missing)} (got "
                f"{','.join(header)[:200]!r}: a file without its header?)")
    return None


def _parse_csv(data: bytes, columns: Sequence[str], types: dict[str, pl.DataType]
               ) -> ParsedFile:
    lines = _split(_normalised(data))
    rows: list[list[str] | _Rejected] = []
    for line in lines:
        header = rows[0] if rows and isinstance(rows[0], list) else ()
        try:
            rows.append(_csv_row(_decoded(line), header))
        except _Rejected as reason:
            rows.append(reason)
    problem = _header_problem(rows[0], columns) if rows else None
    if problem is not None:
        reason = f"file rejected: {problem}"
        everything = [(n, _raw(line), reason) for n, line in enumerate(lines, start=1)]
        return ParsedFile(_empty_records(columns), _rejects(everything), 0)
    if not rows:
        return ParsedFile(_empty_records(columns), _rejects([]), 0)
    header, good, numbers, bad = rows[0], [], [], []
    for number, row in enumerate(rows[1:], start=2):
        if isinstance(row, _Rejected):
            bad.append((number, _raw(lines[number - 1]), str(row)))
        elif len(row) != len(header):
            bad.append((number, _raw(lines[number - 1]),
                        f"expected {len(header)} fields, got {len(row)}"))
        else:
            good.append([value if value != "" else None for value in row])
            numbers.append(number)
    frame = pl.DataFrame(good, schema=dict.fromkeys(header, pl.String), orient="row")
    return ParsedFile(_shape(frame, columns, pl.Series(numbers, dtype=pl.Int64)),
                      _rejects(bad), 1)


def parse(data: bytes, fmt: BronzeFormat, columns: Sequence[str],
          types: Mapping[str, pl.DataType] | None = None) -> ParsedFile:
    """Read one landed file's bytes; never raises on their content (only on an unknown
    format, a declaration error). `types`: the contract's type of each declared column
    (`Source.schema`); JSON lines use them to name a number or boolean landed where a string
    is declared (in `_nested_columns`) and to tell whether polars read them exactly. CSV has
    no types."""
    parsers = {"jsonl": _parse_jsonl, "csv": _parse_csv}
    if fmt not in parsers:
        raise ValueError(f"unknown landing format {fmt!r} (expected 'jsonl' or 'csv')")
    return parsers[fmt](data, columns, dict(types or {}))
