"""The single entry point for every table read and write in the project.

Names resolve to locations here, and tables are registered here when they are created, so that
access control and auditing can be enforced at this one point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from lakehouse_ml.catalog.names import TableName, validate_environment
from lakehouse_ml.catalog.registry import RegisteredTable, Registry, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.lake import Lake, Version


class TableNotFound(LookupError):
    """The name is valid but no table was created under it."""


class Catalog:
    def __init__(
        self, root: str, env: str, storage_options: dict[str, str] | None = None
    ) -> None:
        self.root = root.rstrip("/")
        self.env = validate_environment(env, source="catalog (environment)")
        self.lake = Lake(storage_options)
        self.registry = Registry(self.root)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Catalog:
        settings = settings or Settings.from_env()
        return cls(settings.root, settings.env)

    def name(self, text: str | TableName) -> TableName:
        return text if isinstance(text, TableName) else TableName.parse(text, self.env)

    def location(self, text: str | TableName) -> str:
        name = self.name(text)
        return f"{self.root}/{name.catalog}/{name.schema}/{name.name}"

    def exists(self, text: str | TableName) -> bool:
        return self.lake.exists(self.location(text))

    def _existing(self, text: str | TableName) -> tuple[TableName, str]:
        name = self.name(text)
        uri = self.location(name)
        if not self.lake.exists(uri):
            raise TableNotFound(f"table {name} does not exist (expected at {uri})")
        return name, uri

    def create_table(
        self, text: str | TableName, schema: pl.Schema, info: TableInfo
    ) -> RegisteredTable:
        """Create the table if it is missing and (re)record its metadata; idempotent."""
        name = self.name(text)
        uri = self.location(name)
        if not self.lake.exists(uri):
            self.lake.create(
                uri, schema, name=str(name), description=info.comment,
                column_comments=info.column_comments,
            )
        return self.registry.put(name, uri, info)

    def describe(self, text: str | TableName) -> RegisteredTable:
        name, _ = self._existing(text)
        entry = self.registry.get(name)
        if entry is None:
            raise TableNotFound(f"table {name} exists on storage but is not registered")
        return entry

    def tables(self) -> list[RegisteredTable]:
        return [t for t in self.registry.list(self.env) if self.lake.exists(t.location)]

    # reads
    def scan(self, text: str | TableName, version: Version = None) -> pl.LazyFrame:
        return self.lake.scan(self._existing(text)[1], version)

    def read(
        self, text: str | TableName, version: Version = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        return self.lake.read(self._existing(text)[1], version, columns)

    def version(self, text: str | TableName) -> int:
        return self.lake.version(self._existing(text)[1])

    def history(self, text: str | TableName, limit: int | None = None) -> list[dict[str, Any]]:
        return self.lake.history(self._existing(text)[1], limit)

    def changes(
        self, text: str | TableName, since: int, columns: Sequence[str]
    ) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """`columns` of the rows the commits after version `since` added and removed (the
        rows of a file an update or delete rewrote count as both; a compaction's, as
        neither: see `Lake.changed_files`), and the latest version. Reads only those files:
        the cost follows the change, not the table's history."""
        uri = self._existing(text)[1]
        added, removed, latest = self.lake.changed_files(uri, since)
        empty = pl.DataFrame(schema={c: self.lake.schema(uri)[c] for c in columns})
        return (self.lake.read_files(added, columns) if added else empty,
                self.lake.read_files(removed, columns) if removed else empty, latest)

    def schema(self, text: str | TableName) -> pl.Schema:
        return self.lake.schema(self._existing(text)[1])

    # writes
    def append(self, text: str | TableName, df: pl.DataFrame, *, evolve: bool = False) -> int:
        name, uri = self._existing(text)
        return self.lake.append(uri, df, label=str(name), evolve=evolve)

    def appender(self, text: str | TableName) -> Callable[[pl.DataFrame], int]:
        """`append` for a frequent writer (see `Lake.appender`)."""
        name, uri = self._existing(text)
        return self.lake.appender(uri, label=str(name))

    def overwrite(
        self, text: str | TableName, df: pl.DataFrame, *, predicate: str | None = None,
        evolve: bool = False,
    ) -> int:
        name, uri = self._existing(text)
        return self.lake.overwrite(uri, df, label=str(name), predicate=predicate, evolve=evolve)

    def merge(
        self, text: str | TableName, df: pl.DataFrame, *, keys: Sequence[str],
        update_when: str | None = None, evolve: bool = False, target_filter: str | None = None,
    ) -> dict[str, Any]:
        name, uri = self._existing(text)
        return self.lake.merge(
            uri, df, label=str(name), keys=keys, update_when=update_when, evolve=evolve,
            target_filter=target_filter,
        )

    def delete(self, text: str | TableName, predicate: str) -> dict[str, Any]:
        return self.lake.delete(self._existing(text)[1], predicate)

    def optimize(self, text: str | TableName, zorder_by: Sequence[str] = ()) -> dict[str, Any]:
        return self.lake.optimize(self._existing(text)[1], zorder_by)

    def vacuum(self, text: str | TableName, retention_hours: int, *,
               enforce_retention_duration: bool = True) -> list[str]:
        return self.lake.vacuum(self._existing(text)[1], retention_hours,
                                enforce_retention_duration=enforce_retention_duration)
