"""SQL predicate text for Delta operations (replaceWhere, delete, MERGE conditions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def quoted(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def in_list(column: str, values: Iterable[object]) -> str:
    items = sorted({quoted(v) for v in values})
    return f"{column} IN ({', '.join(items)})" if items else "FALSE"


def between(column: str, low: object, high: object) -> str:
    return f"{column} >= {quoted(low)} AND {column} <= {quoted(high)}"


def later_or_same(columns: Sequence[str]) -> str:
    """The incoming row `s` sorts at or after the stored row `t` on `columns` (lexicographic)."""
    terms = []
    for i, column in enumerate(columns):
        equal = [f"s.{c} = t.{c}" for c in columns[:i]]
        terms.append(" AND ".join([*equal, f"s.{column} > t.{column}"]))
    terms.append(" AND ".join(f"s.{c} = t.{c}" for c in columns))
    return " OR ".join(f"({t})" for t in terms)
