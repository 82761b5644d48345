"""Securables: metastore → catalog → schema → table / feature table / registered model /
function, each with an owner, a comment and tags (tags on table columns too).

Tables created through `Catalog.create_table` are known from their registry documents
(`<root>/<catalog>/_catalog/<schema>/<table>.json`); what governance adds or changes (owner,
tags, row filter, masks, declared catalogs, schemas, models, functions) is kept in the
governance state under `securables["<TYPE> <full name>"]` and wins over the document.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lakehouse_ml.catalog.names import is_identifier
from lakehouse_ml.catalog.registry import RegisteredTable
from lakehouse_ml.governance.store import State

METASTORE, CATALOG, SCHEMA, TABLE, MODEL, FUNCTION = (
    "METASTORE", "CATALOG", "SCHEMA", "TABLE", "MODEL", "FUNCTION")
SECURABLE_TYPES = (METASTORE, CATALOG, SCHEMA, TABLE, MODEL, FUNCTION)
DEPTH = {METASTORE: 0, CATALOG: 1, SCHEMA: 2, TABLE: 3, MODEL: 3, FUNCTION: 3}
METASTORE_NAME = "metastore"
MAX_TAGS, MAX_TAG_CHARS = 50, 256


class UnknownSecurable(LookupError):
    """No catalog, schema, table, model or function of that name exists."""


@dataclass(frozen=True)
class Securable:
    """One securable: `type` one of SECURABLE_TYPES, `name` its full dotted name
    (`metastore` for the metastore); `kind` refines a TABLE (`TABLE` or `FEATURE TABLE`)."""

    type: str
    name: str
    owner: str
    comment: str = ""
    kind: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    column_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    row_filter: dict[str, Any] | None = None
    column_masks: dict[str, dict[str, Any]] = field(default_factory=dict)
    definition: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return key(self.type, self.name)


def key(kind: str, name: str) -> str:
    return f"{kind} {name}"


def parse_name(kind: str, text: str, default_catalog: str) -> str:
    """The full name of a `kind` securable written as `text` (a name inside a catalog may
    leave the catalog out: `silver.customers` is `<default_catalog>.silver.customers`).
    Raises ValueError naming `text`."""
    if kind not in SECURABLE_TYPES:
        raise ValueError(f"unknown securable type {kind!r}: one of {', '.join(SECURABLE_TYPES)}")
    if kind == METASTORE:
        return METASTORE_NAME
    parts = text.split(".") if isinstance(text, str) else []
    if len(parts) == DEPTH[kind] - 1 and kind != CATALOG:
        parts = [default_catalog, *parts]
    if len(parts) != DEPTH[kind] or not all(is_identifier(p) for p in parts):
        raise ValueError(f"invalid {kind.lower()} name {text!r}: expected {DEPTH[kind]} "
                         "dot-separated lowercase identifiers (the catalog may be left out)")
    return ".".join(parts)


def parents(kind: str, name: str) -> list[tuple[str, str]]:
    """`(type, name)` from the securable itself up to the metastore."""
    parts = name.split(".") if kind != METASTORE else []
    chain = [(kind, name)]
    if len(parts) >= 3:
        chain.append((SCHEMA, ".".join(parts[:2])))
    if len(parts) >= 2:
        chain.append((CATALOG, parts[0]))
    if kind != METASTORE:
        chain.append((METASTORE, METASTORE_NAME))
    return chain


TableLookup = Callable[[str], RegisteredTable | None]
"""Full table name → its registry document, or None."""


@dataclass(frozen=True)
class Namespace:
    """What exists: the governance state, the tables registered under the root and the
    environment's catalog (`home`, which always exists)."""

    state: State
    table: TableLookup
    registered: Callable[[], list[RegisteredTable]]
    home: str
    holds_tables: Callable[[str], bool]
    """`catalog` or `catalog.schema` → whether a table document is registered under it."""

    def find(self, kind: str, name: str) -> Securable | None:
        stored = self.state["securables"].get(key(kind, name))
        base: dict[str, Any] = {}
        if kind == METASTORE:
            base = {"owner": self.state["admins"][0]}
        elif kind == TABLE and (doc := self.table(name)) is not None:
            base = {"owner": doc.info.owner, "comment": doc.info.comment,
                    "tags": dict(doc.info.tags), "kind": TABLE,
                    "column_tags": {c: dict.fromkeys(t, "") for c, t in
                                    doc.info.column_tags.items()}}
        elif kind in (CATALOG, SCHEMA) and self._implied(kind, name):
            base = {"owner": self.state["admins"][0]}
        if stored is None and not base:
            return None
        merged = {**base, **(stored or {})}
        return Securable(type=kind, name=name, **merged)

    def _implied(self, kind: str, name: str) -> bool:
        """A catalog or schema holding a registered table exists without being declared."""
        prefix = name + "."
        if kind == CATALOG and name == self.home:
            return True
        return self.holds_tables(name) or any(
            k.split(" ", 1)[1].startswith(prefix) for k in self.state["securables"])

    def named(self, kind: str, name: str) -> Securable:
        """`find(kind, name)`, or where nothing of that name exists, a stand-in owned by no
        one: a privilege check on it answers from the grants alone (on it and on its
        containers, to the principal or its groups; a metastore admin holds all), so a
        caller who may not see a securable cannot tell from the answer whether it exists."""
        return self.find(kind, name) or Securable(type=kind, name=name, owner="")

    def get(self, kind: str, name: str) -> Securable:
        found = self.find(kind, name)
        if found is None:
            raise UnknownSecurable(f"{kind.lower()} {name} does not exist")
        return found

    def children(self, kind: str, name: str) -> list[Securable]:
        """The securables directly inside `kind name`, sorted by type and name."""
        depth = DEPTH[kind] + 1
        prefix = "" if kind == METASTORE else name + "."
        found: set[tuple[str, str]] = {(CATALOG, self.home)} if kind == METASTORE else set()
        names = [(TABLE, t.name) for t in self.registered()] + [
            tuple(k.split(" ", 1)) for k in self.state["securables"]]
        for child_kind, child in names:
            if not child.startswith(prefix) or child_kind == METASTORE:
                continue
            parts = child.split(".")
            if len(parts) == depth and DEPTH[child_kind] == depth:
                found.add((child_kind, child))
            elif len(parts) > depth:
                found.add(({1: CATALOG, 2: SCHEMA}[depth], ".".join(parts[:depth])))
        return [self.get(k, n) for k, n in sorted(found)]


def stored(state: State, kind: str, name: str) -> dict[str, Any]:
    """The governance entry of a securable, created empty if missing (for changes)."""
    return state["securables"].setdefault(key(kind, name), {})


def assign(state: State, current: Securable, **values: Any) -> bool:
    """Write into the governance entry of `current` (the securable as the namespace reads
    it from `state`) each of `values` (Securable field names) that differs from its current
    value; nothing at all, not even an empty entry, when none differs (a no-op leaves the
    state equal, so nothing is committed or audited). Whether anything was written."""
    changed = {k: v for k, v in values.items() if getattr(current, k) != v}
    if changed:
        stored(state, current.type, current.name).update(changed)
    return bool(changed)


def validate_tags(tags: dict[str, str], where: str) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise ValueError(f"too many tags on {where}: at most {MAX_TAGS}")
    for k, v in tags.items():
        if not isinstance(k, str) or not k or len(k) > MAX_TAG_CHARS or not isinstance(
                v, str) or len(v) > MAX_TAG_CHARS:
            raise ValueError(f"invalid tag {k!r}={v!r} on {where}: key 1 to {MAX_TAG_CHARS} "
                             f"characters, value a string of at most {MAX_TAG_CHARS}")
    return tags
