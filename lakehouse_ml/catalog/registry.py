"""The metastore: one JSON document per table holding what Delta itself cannot (owner, tags).

Documents live beside the tables (`<root>/<catalog>/_catalog/<schema>/<table>.json`) and are
written whole to a staging file of their own and renamed into place, so a reader never sees
half a document and concurrent writers never collide (the last rename wins).

A document holds `name`, `created_at` and `info`, no path: a table's location is derived from
the root the registry is opened on (`TableName.location`), so a copied or moved root works.
Documents written before held an absolute `location` too; it is ignored when they are read.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from pyarrow import fs as pafs

from lakehouse_ml.catalog.names import TableName

PII = "pii"
"""The column tag of personal data."""


@dataclass(frozen=True)
class TableInfo:
    """What a table is, who owns it and how it is classified (Unity Catalog's securable)."""

    owner: str
    comment: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    column_tags: dict[str, list[str]] = field(default_factory=dict)
    column_comments: dict[str, str] = field(default_factory=dict)

    def pii_columns(self) -> set[str]:
        """Columns tagged `pii`: masked or hashed wherever they leave their table."""
        return {column for column, tags in self.column_tags.items() if PII in tags}


@dataclass(frozen=True)
class RegisteredTable:
    """A registered table: `name` in full (`catalog.schema.table`), `location` where the
    registry's root keeps it (derived, not stored), `created_at` (ISO 8601, UTC) when first
    registered, and its `info`."""

    name: str
    location: str
    created_at: str
    info: TableInfo

    def document(self) -> dict[str, object]:
        """What the registry stores of it: everything but the location."""
        return {"name": self.name, "created_at": self.created_at, "info": asdict(self.info)}


class Registry:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._fs, self._root = pafs.FileSystem.from_uri(root)

    def _path(self, name: TableName) -> str:
        return f"{self._root}/{name.catalog}/_catalog/{name.schema}/{name.name}.json"

    def put(self, name: TableName, info: TableInfo) -> RegisteredTable:
        """Register `name` with `info` (its first registration's time kept); no write when
        the document holds `info` already."""
        previous = self.get(name)
        if previous is not None and previous.info == info:
            return previous  # every run re-declares its tables: unchanged means no write
        created = previous.created_at if previous else datetime.now(UTC).isoformat()
        entry = RegisteredTable(str(name), name.location(self.root), created, info)
        path = self._path(name)
        self._fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        staging = f"{path}.{uuid.uuid4().hex}.tmp"  # one per writer: concurrent puts never
        # rename each other's staging file away
        with self._fs.open_output_stream(staging) as out:
            out.write(json.dumps(entry.document(), indent=2, sort_keys=True).encode())
        self._fs.move(staging, path)
        return entry

    def get(self, name: TableName) -> RegisteredTable | None:
        path = self._path(name)
        if self._fs.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        with self._fs.open_input_stream(path) as stream:
            raw = json.loads(stream.read())
        return RegisteredTable(  # an earlier document's `location` is not read
            raw["name"], name.location(self.root), raw["created_at"], TableInfo(**raw["info"])
        )

    def list(self, catalog: str) -> list[RegisteredTable]:
        base = f"{self._root}/{catalog}/_catalog"
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        entries = []
        for item in self._fs.get_file_info(selector):
            if item.type == pafs.FileType.File and item.path.endswith(".json"):
                schema, table = item.path[len(base) + 1 : -len(".json")].split("/")
                entry = self.get(TableName(catalog, schema, table))
                if entry is not None:
                    entries.append(entry)
        return sorted(entries, key=lambda e: e.name)
