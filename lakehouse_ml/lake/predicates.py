"""SQL predicate text for Delta operations (replaceWhere, delete, MERGE conditions).

Every column name is written as a quoted identifier (`"customer id"`, `t."Customer-ID"`), so
names with spaces, hyphens, leading digits, mixed case or reserved words (`select`, `order`)
mean the column they name; values are written as quoted literals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def quoted(value: object) -> str:
    """`value` as a SQL string literal: `O'Brien` -> `'O''Brien'`."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(column: str, alias: str | None = None) -> str:
    """`column` as a quoted SQL identifier, qualified by a table `alias` if given:
    `identifier("customer id", "t")` -> `t."customer id"` (a `"` in a name is doubled)."""
    name = '"' + column.replace('"', '""') + '"'
    return f"{alias}.{name}" if alias else name


def in_list(column: str, values: Iterable[object], alias: str | None = None) -> str:
    """`column` (optionally of table `alias`) is one of `values`; `FALSE` for no values."""
    items = sorted({quoted(v) for v in values})
    return f"{identifier(column, alias)} IN ({', '.join(items)})" if items else "FALSE"


def between(column: str, low: object, high: object, alias: str | None = None) -> str:
    """`low <= column <= high` (optionally of table `alias`), bounds as literals."""
    name = identifier(column, alias)
    return f"{name} >= {quoted(low)} AND {name} <= {quoted(high)}"


def from_until(column: str, low: object, high: object) -> str:
    """`low <= column < high` (a half-open range), bounds as literals."""
    name = identifier(column)
    return f"{name} >= {quoted(low)} AND {name} < {quoted(high)}"


def same_keys(keys: Sequence[str]) -> str:
    """The incoming row `s` and the stored row `t` have equal `keys` (a MERGE condition)."""
    return " AND ".join(f"{identifier(k, 't')} = {identifier(k, 's')}" for k in keys)


def later_or_same(columns: Sequence[str]) -> str:
    """The incoming row `s` sorts at or after the stored row `t` on `columns` (lexicographic)."""
    terms = []
    for i, column in enumerate(columns):
        later = f"{identifier(column, 's')} > {identifier(column, 't')}"
        terms.append(" AND ".join(filter(None, [same_keys(columns[:i]), later])))
    terms.append(same_keys(columns))
    return " OR ".join(f"({t})" for t in terms)
