"""How an erasure recognises a data subject's rows in a table (`erasure_tables` uses it).

A row is the subject's when
- a key column (the subject's column by name, or one the domains declare derived from it,
  `key_columns`) equals the value: cast to the column's type (ValueError naming the column
  when it cannot be), or, in a text column of that name (bronze, quarantine), the text with
  surrounding blanks dropped;
- a `pii` column holds one of the subject's own values of that column (`email`, read from
  the rows its key found);
- any other text column names the key (a JSON field `"customer_id": 42`, in rows as objects
  or as `columns`/`data`, or broken JSON a reject kept) or holds one of those pii values
  (a rejected raw line, a logged request body).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from lakehouse_ml.governance.erasure_places import Subject

MAX_VALUE_CHARS = 256
"""The longest key value `forget` accepts."""
MIN_PII_CHARS = 4
"""A pii value shorter than this is matched in its own column only, never inside a text."""


def key_columns(subject: Subject, schemas: Mapping[str, pl.Schema],
                derived: Mapping[str, Mapping[str, list[tuple[str, str]]]]
                ) -> dict[str, dict[str, pl.DataType]]:
    """Table → its key columns and their types: the subject's column by name, and every column
    the declarations (`derived`: table → column → [(source table, source column)], tables as
    `schema.table`) derive from a key column, transitively. `schemas` maps `schema.table`."""
    keys = {(t, subject.column) for t, schema in schemas.items() if subject.column in schema}
    grown = True
    while grown:
        found = {(t, c) for t, deps in derived.items() for c, sources in deps.items()
                 if t in schemas and c in schemas[t] and any(s in keys for s in sources)}
        grown = not found <= keys
        keys |= found
    result: dict[str, dict[str, pl.DataType]] = {}
    for table, column in sorted(keys):
        result.setdefault(table, {})[column] = schemas[table][column]
    return result


def typed(subject: Subject, dtype: pl.DataType, where: str) -> Any:
    """The subject's value as a `dtype` value (text columns: the text); ValueError naming
    `where` (`table.column`) when it is not one."""
    if dtype == pl.String:
        return subject.value
    try:
        return pl.Series([subject.value]).cast(dtype, strict=True)[0]
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as error:
        raise ValueError(f"--key {subject.column}={subject.value!r}: {where} is {dtype}, and "
                         f"{subject.value!r} is not one") from error


@dataclass(frozen=True)
class Needles:
    """What identifies the subject in any table."""

    subject: Subject
    pii: dict[str, frozenset[str]] = field(default_factory=dict)
    """pii column → the subject's values of it (found by key)."""

    def in_text(self) -> list[str]:
        """Literal texts that, inside any text, are the subject's: the long enough pii
        values."""
        return sorted({v for values in self.pii.values() for v in values
                       if len(v) >= MIN_PII_CHARS})

    def json_field(self) -> re.Pattern[str]:
        """`"column": value` (the value quoted or not) as JSON, broken JSON included."""
        column, value = (re.escape(x) for x in (self.subject.column, self.subject.value))
        return re.compile(rf'"{column}"\s*:\s*"?\s*{value}\s*"?\s*[,}}\]]')


def key_match(column: str, dtype: pl.DataType, value: Any) -> pl.Expr:
    if dtype == pl.String:
        return pl.col(column).str.strip_chars() == str(value).strip()
    return pl.col(column) == pl.lit(value, dtype=dtype)


def pii_match(schema: pl.Schema, needles: Needles) -> list[pl.Expr]:
    return [pl.col(c).is_in(list(values)) for c, values in needles.pii.items()
            if c in schema and schema[c] == pl.String and values]


def text_columns(schema: pl.Schema, keys: Iterable[str], needles: Needles) -> list[str]:
    """The text columns to search for the key named inside (neither key nor pii columns)."""
    skip = {*keys, *needles.pii}
    return [c for c, d in schema.items() if d == pl.String and c not in skip]


def text_prefilter(columns: list[str], needles: Needles) -> pl.Expr | None:
    """Rows where some text column holds the key column's quoted name and the value's text,
    or a pii value (a superset of the rows `mentions` accepts: cheap, so `mentions` runs on
    few)."""
    name, value = f'"{needles.subject.column}"', needles.subject.value
    terms = [pl.col(c).str.contains(name, literal=True)
             & pl.col(c).str.contains(value, literal=True) for c in columns]
    terms += [pl.col(c).str.contains(text, literal=True) for c in columns
              for text in needles.in_text()]
    return pl.any_horizontal(terms).fill_null(False) if terms else None


def mentions(text: str | None, needles: Needles) -> bool:
    """Whether `text` names the subject's key as a JSON field (rows as objects or as
    `columns`/`data`; broken JSON by pattern) or holds one of its pii values."""
    if not text:
        return False
    if any(value in text for value in needles.in_text()):
        return True
    try:
        document = json.loads(text)
    except ValueError:
        return bool(needles.json_field().search(text))
    return _in_document(document, needles.subject, 0)


def _in_document(node: Any, subject: Subject, depth: int) -> bool:
    if depth > 64:
        return False
    if isinstance(node, dict):
        if subject.column in node and _equal(node[subject.column], subject.value):
            return True
        columns, data = node.get("columns"), node.get("data")
        if isinstance(columns, list) and isinstance(data, list) and subject.column in columns:
            at = columns.index(subject.column)
            if any(isinstance(row, list) and len(row) > at and _equal(row[at], subject.value)
                   for row in data):
                return True
        return any(_in_document(v, subject, depth + 1) for v in node.values())
    if isinstance(node, list):
        return any(_in_document(v, subject, depth + 1) for v in node)
    if isinstance(node, str) and subject.value in node and node[:1] in "{[":
        try:
            return _in_document(json.loads(node), subject, depth + 1)
        except ValueError:
            return False
    return False


def _equal(found: Any, value: str) -> bool:
    return not isinstance(found, dict | list) and found is not None and str(
        found).strip() == value
