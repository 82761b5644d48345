"""Three-level table names (`catalog.schema.table`), validated before they touch storage."""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


class InvalidTableName(ValueError):
    """A name that is not `[catalog.]schema.table` made of lowercase identifiers."""


def validate_identifier(part: str, *, what: str, full_name: str) -> str:
    if not _IDENTIFIER.match(part):
        raise InvalidTableName(
            f"invalid {what} {part!r} in table name {full_name!r}: use lowercase letters, "
            "digits and '_', starting with a letter (no '..', '/', spaces or empty parts)"
        )
    return part


@dataclass(frozen=True, order=True)
class TableName:
    catalog: str
    schema: str
    name: str

    @classmethod
    def parse(cls, text: str, default_catalog: str) -> TableName:
        """Accept `schema.table` (in the current catalog) or `catalog.schema.table`."""
        if not isinstance(text, str):
            raise InvalidTableName(f"table name must be a string, got {type(text).__name__}")
        parts = text.split(".")
        if len(parts) == 2:
            parts = [default_catalog, *parts]
        if len(parts) != 3:
            raise InvalidTableName(
                f"invalid table name {text!r}: expected 'schema.table' or 'catalog.schema.table'"
            )
        for what, part in zip(("catalog", "schema", "table"), parts, strict=True):
            validate_identifier(part, what=what, full_name=text)
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"

    @property
    def short(self) -> str:
        return f"{self.schema}.{self.name}"
