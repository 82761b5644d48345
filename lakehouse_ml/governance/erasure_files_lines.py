"""Which lines of a landed file are a data subject's, decided from parsed fields, never from
substrings of the line (customer 4 is not customer 42).

A landed file is split into lines exactly as bronze splits it (`\\n`, `\\r\\n` or a lone `\\r`
ends a line; a leading byte-order mark is not part of the first line), each line keeping its
own bytes and line end, so that dropping lines leaves every other line byte for byte as it was.

A line is the subject's when:
- its key field (the subject's column, cast to the source's type) equals the subject's value:
  a *record*;
- its key field cannot be cast but holds the value whole (`"x42"`, `[42]` for the integer 42;
  ` 42 ` for a text key), or the line cannot be parsed (bad UTF-8, broken JSON, a CSV line of
  the wrong field count, a CSV whose header bronze refuses) and its key field, found by name
  (JSON) or by its header position (CSV), holds the value, or a field of a CSV line whose
  header has no key column equals it exactly: *malformed* (bronze rejects or silver
  quarantines the line; it still holds the subject's data, so it is removed too and
  reported). A CSV's first line is the header only when bronze accepts it as one;
- its key is missing, null or broken and it holds one of the subject's `identifiers` (values
  of `pii` columns taken from the subject's records, e.g. the email) as a whole token, as it
  is or as a quoted CSV field or a JSON string spells it (`"` doubled, escapes): *malformed*.
A line whose key is another subject's valid key is never the subject's, whatever else it holds.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

import polars as pl

from lakehouse_ml.ingest.landing import BOM
from lakehouse_ml.medallion.spec import BronzeFormat

_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_TOKEN_EDGE = rb"[\w.%+@-]"
"""Characters that continue a token (an email, an id): an identifier only counts when none of
these touches it on either side."""


class Holds(Enum):
    NOTHING = "nothing"
    """Not the subject's (another key, or nothing of the subject's)."""
    RECORD = "record"
    MALFORMED = "malformed"


def split_lines(data: bytes) -> tuple[bytes, list[bytes]]:
    """(byte-order mark or b"", lines each with its own line end); joined they are `data`."""
    bom = BOM if data.startswith(BOM) else b""
    return bom, _LINE.findall(data[len(bom):])


def content(line: bytes) -> bytes:
    """A line without its line end."""
    return line.rstrip(b"\r\n")


@dataclass(frozen=True)
class SourceSubject:
    """The subject as one source sees it: `column` typed `dtype` (None: not a column of the
    source), `value` as given, and the identifiers (`pii` values) known for it."""

    column: str
    dtype: pl.DataType | None
    value: str
    identifiers: frozenset[str] = frozenset()
    pii: tuple[str, ...] = ()
    """The source's `pii`-tagged columns (where identifiers are compared on parsed records)."""

    def key(self, field: str | None) -> Holds | None:
        """What a key field says: RECORD (the subject's), MALFORMED (broken but holds the
        value), NOTHING (another valid key), None (no usable key: null, empty, or broken
        without the value: the identifiers decide)."""
        if field is None or field == "":
            return None
        if self.dtype is not None and self.dtype.is_integer() and _INTEGER.fullmatch(self.value):
            wanted = int(self.value)
            if _INTEGER.fullmatch(field):
                return Holds.RECORD if int(field) == wanted else Holds.NOTHING
            runs = re.findall(r"[0-9]+", field)
            return Holds.MALFORMED if any(int(r) == wanted for r in runs) else None
        if field == self.value:
            return Holds.RECORD
        return Holds.MALFORMED if field.strip() == self.value.strip() else Holds.NOTHING

    @cached_property
    def _spellings(self) -> tuple[bytes, ...]:
        """The identifiers as a line may spell them: as they are, as a quoted CSV field spells
        a `"` in them (doubled: `a"b` is `"a""b"`), and as a JSON string does (`a\\"b`, `é` as
        itself or `\\u00e9`)."""
        return tuple(sorted({s.encode("utf-8") for i in self.identifiers
                             for s in (i, i.replace('"', '""'), json.dumps(i)[1:-1],
                                       json.dumps(i, ensure_ascii=False)[1:-1])}))

    @cached_property
    def _needles(self) -> tuple[bytes, re.Pattern[bytes] | None, tuple[bytes, ...]]:
        """(bytes every form of the value holds, the pattern that tells the value from a longer
        number, the identifiers' spellings and a backslash: other bytes that may mark the
        subject's line, a JSON escape spelling anything)."""
        if self.dtype is not None and self.dtype.is_integer() and _INTEGER.fullmatch(self.value):
            digits = str(abs(int(self.value))).encode()
            whole = re.compile(rb"(?<![0-9])0*" + digits + rb"(?![0-9])")
            return digits, whole, (b"\\", *self._spellings)
        return self.value.strip().encode("utf-8"), None, (b"\\", *self._spellings)

    def may_hold(self, data: bytes, line: bool = False) -> bool:
        """False when `data` (a file, or one `line`) cannot hold a line of the subject: none of
        the bytes every such line holds is in it. Substring tests only, but for a line whose
        integer must also stand as a whole number."""
        value, whole, others = self._needles
        if any(n in data for n in others if n):
            return True
        return value in data and (not line or whole is None or whole.search(data) is not None)

    def candidates(self, lines: Sequence[bytes]) -> list[bool]:
        """`may_hold` of each line, tested at once (polars): only these lines are parsed.
        Lines are compared as Latin-1 text, byte for byte."""
        if not lines:
            return []
        value, whole, others = self._needles
        text = pl.Series([line.decode("latin-1") for line in lines], dtype=pl.String)
        hit = text.str.contains_any([n.decode("latin-1") for n in others if n])
        if whole is None:
            hit = hit | text.str.contains(value.decode("latin-1"), literal=True)
        else:
            hit = hit | text.str.contains(f"(?:^|[^0-9])0*{value.decode()}(?:[^0-9]|$)")
        return hit.to_list()

    def mentioned(self, line: bytes) -> bool:
        """One of the identifiers occurs in the raw line as a whole token (as it is, or with
        its `"` doubled as in a quoted CSV field)."""
        return any(_token(i).search(line) for i in self._spellings)

    def pii_match(self, fields: dict[str, str | None]) -> bool:
        return any(fields.get(c) in self.identifiers for c in self.pii)


def _token(identifier: bytes) -> re.Pattern[bytes]:
    escaped = re.escape(identifier)
    return re.compile(rb"(?<!" + _TOKEN_EDGE + rb")" + escaped + rb"(?!" + _TOKEN_EDGE + rb")")


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _unkeyed(subject: SourceSubject, line: bytes,
             fields: dict[str, str | None] | None, parsed: bool = False) -> Holds:
    """A line without a usable key: the subject's only through an identifier (a record when
    the source has no key column and bronze reads the line)."""
    if fields is not None and subject.pii_match(fields):
        return Holds.RECORD if parsed and subject.dtype is None else Holds.MALFORMED
    return Holds.MALFORMED if subject.mentioned(line) else Holds.NOTHING


def _decide(subject: SourceSubject, line: bytes, key: str | None,
            fields: dict[str, str | None] | None, parsed: bool) -> Holds:
    found = subject.key(key)
    if found is Holds.RECORD:
        return Holds.RECORD if parsed else Holds.MALFORMED
    if found is not None:
        return found
    return _unkeyed(subject, line, fields, parsed)


# ------------------------------------------------------------------------------------ JSON lines
def _json_key(subject: SourceSubject, line: bytes) -> str | None:
    """The key's raw value in a line that is not a JSON object (cut short, bad bytes)."""
    name = re.escape(json.dumps(subject.column).encode("utf-8"))
    match = re.search(name + rb'\s*:\s*(?:"((?:[^"\\]|\\.)*)"?|([^,}\]\s]+))', line)
    if match is None or match[2] == b"null":  # a JSON null: no key
        return None
    return (match[1] if match[1] is not None else match[2]).decode("utf-8", "backslashreplace")


def jsonl_holds(subject: SourceSubject, line: bytes) -> Holds:
    """What one JSON line (without its end) holds of the subject."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        return _decide(subject, line, _json_key(subject, line), None, parsed=False)
    try:
        fields = {c: _text(value.get(c)) for c in (subject.column, *subject.pii)}
    except RecursionError:
        return _decide(subject, line, _json_key(subject, line), None, parsed=False)
    return _decide(subject, line, fields[subject.column], fields, parsed=True)


# ------------------------------------------------------------------------------------------- CSV
def _csv_fields(line: bytes) -> list[str] | None:
    try:
        text = line.decode("utf-8")
        return next(csv.reader((text,), strict=True), [])
    except (UnicodeDecodeError, csv.Error):
        return None


@dataclass(frozen=True)
class CsvHeader:
    names: list[str] | None
    """The header's fields (None: unreadable)."""
    accepted: bool
    """Bronze reads the file's lines (else it rejects every one)."""

    @classmethod
    def of(cls, line: bytes, declared: Collection[str]) -> CsvHeader:
        names = _csv_fields(line)
        accepted = (names is not None and len(set(names)) == len(names) and "" not in names
                    and all(c in names for c in declared))
        return cls(names, accepted)


def csv_holds(subject: SourceSubject, header: CsvHeader, line: bytes) -> Holds:
    """What one CSV data line (without its end) holds of the subject."""
    fields = _csv_fields(line)
    names = header.names or []
    if fields is None:  # not UTF-8 or a broken quote: split it as bytes
        fields = [f.strip().strip('"') for f in line.decode("utf-8", "replace").split(",")]
        parsed = False
    else:
        parsed = header.accepted and len(fields) == len(names)
    named = dict(zip(names, (f if f != "" else None for f in fields), strict=False))
    if subject.column not in names:  # no header to place the key: any whole field that is it
        if subject.dtype is not None and any(subject.key(f) is Holds.RECORD for f in fields):
            return Holds.MALFORMED
        return _unkeyed(subject, line, named, parsed)
    return _decide(subject, line, named.get(subject.column), named, parsed)


def holds(subject: SourceSubject, fmt: BronzeFormat, header: CsvHeader | None,
          line: bytes) -> Holds:
    """What one line (without its end) of a file of format `fmt` holds of the subject;
    `header` is the CSV file's first line (None for JSON lines)."""
    if not line.strip() or not subject.may_hold(line, line=True):
        return Holds.NOTHING
    if fmt == "csv" and header is not None:
        return csv_holds(subject, header, line)
    return jsonl_holds(subject, line)


def pii_values(subject: SourceSubject, fmt: BronzeFormat, header: CsvHeader | None,
               line: bytes) -> list[str]:
    """The non-empty values of the source's `pii` columns in one parsed line (a record of the
    subject's: they identify it where its key is missing)."""
    if fmt == "csv" and header is not None:
        fields = _csv_fields(line)
        named = dict(zip(header.names or [], fields or [], strict=False))
    else:
        try:
            value = json.loads(line.decode("utf-8"))
            named = ({c: _text(value.get(c)) for c in subject.pii} if isinstance(value, dict)
                     else {})
        except (UnicodeDecodeError, ValueError, RecursionError):
            return []
    return [v for c in subject.pii if (v := named.get(c))]
