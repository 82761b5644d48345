"""Three-level table names (`catalog.schema.table`), validated before they touch storage.

Every part, the catalog (the environment, `LAKEHOUSE_ENV`) included, is one identifier matched
in full: no '..', '/', spaces, empty parts or trailing newline ever reach a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,127}")
_RULE = "use lowercase letters, digits and '_', starting with a letter, at most 128 characters"


class InvalidTableName(ValueError):
    """A name that is not `[catalog.]schema.table` made of lowercase identifiers."""


def is_identifier(part: object) -> bool:
    """Whether `part` is one name part, matched in full (`re.fullmatch`, not `^...$`)."""
    return isinstance(part, str) and _IDENTIFIER.fullmatch(part) is not None


def validate_identifier(part: str, *, what: str, full_name: str) -> str:
    if not is_identifier(part):
        raise InvalidTableName(
            f"invalid {what} {part!r} in table name {full_name!r}: {_RULE} "
            "(no '..', '/', spaces or empty parts)"
        )
    return part


def validate_environment(env: str, *, source: str = "LAKEHOUSE_ENV") -> str:
    """The environment is the catalog of every table name (`dev`, `staging`, `prod`) and a
    directory under the lakehouse root, so it must be one name part. Raises InvalidTableName
    naming `source` otherwise."""
    if not is_identifier(env):
        raise InvalidTableName(f"invalid {source} {env!r}: it names the catalog, so {_RULE}")
    return env


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

    def location(self, root: str) -> str:
        """Where the lakehouse at `root` (a path or URI) keeps the table:
        `<root>/<catalog>/<schema>/<table>`. Derived, never stored, so a copied or moved
        root addresses its own tables."""
        return f"{root.rstrip('/')}/{self.catalog}/{self.schema}/{self.name}"
