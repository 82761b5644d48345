"""What a domain package's `policy.yaml` may declare: its own scope, checked when the package
loads (`lakehouse_ml.domains.discover`), before anything is applied.

Unity Catalog's model: the metastore admin manages the shared schemas and the account groups
(here the project policy, `lakehouse_ml/domains/policy.yaml`, applied first and unrestricted);
a schema's or table's owner manages its own. A domain policy is applied by the admin too (each
pipeline process applies it), so what it may declare is limited to the domain `d`'s scope:

- `service_principals` and `groups` named `d-...` (its own; `d-pipeline` must be among the
  principals: its runs act as it), with any members; no `users` (people are the project's),
  no member added to a group it does not declare;
- `schemas` of its own: not a shared layer (`SHARED_SCHEMAS`) or an engine schema, not one
  the project policy or another domain's policy declares (the message names both files and
  both owners), not another domain's model schema;
- `owners`, `grants`, `tags`, `row_filters` and `column_masks` on its own securables only: its
  own schemas (declared here, and its models' schemas), the tables its declarations produce
  (`domains.table_claims`) and the tables and models in its own schemas, the functions it
  declares; on the CATALOG only grants of `USE CATALOG` or `BROWSE` (no owner, no tag);
- `functions` in its own schemas only (a shared layer's are the project policy's: `CREATE OR
  REPLACE` would change the masks and filters of every domain calling them), that no other
  policy declares; a row filter or column mask calls a function this policy or the project
  policy declares.

An overstepping policy makes its package broken (one line: file, entry, reason): that domain
runs nothing and its policy is never applied, not even in part; the other domains carry on.
So does a malformed one (`policy.check_entries`: a field, a privilege name, a function), which
would otherwise fail every pipeline process when applied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse_ml.domains.reserved import ENGINE_SCHEMAS
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.policy import (
    PolicyError,
    Target,
    _entries,
    _fields,
    _target,
    check_entries,
    load,
)

if TYPE_CHECKING:
    from lakehouse_ml.domains import Declared

POLICY_FILE = "policy.yaml"
"""A domain package's policy file, in its folder."""
SHARED_SCHEMAS = ("bronze", "silver", "gold", *sorted(ENGINE_SCHEMAS))
"""The layers every domain shares and the engine's schemas the project policy declares: no
domain policy may declare, own, tag or grant on them."""
ON_CATALOG = (pv.USE_CATALOG, pv.BROWSE)
"""The only privileges a domain policy may grant on the catalog."""


@dataclass
class Declares:
    """What one policy file declares that another may not declare too (full names)."""

    file: str
    schemas: dict[str, str] = field(default_factory=dict)
    """Schema → its owner ('' when the file names none)."""
    functions: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)


def declares(file: str, doc: Mapping[str, Any], env: str) -> Declares:
    """The schemas (with owners), functions and groups `doc` declares; malformed entries are
    skipped (its own check, or its apply, reports them)."""
    found = Declares(file)
    for entry in doc.get("schemas") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            try:
                name = s.parse_name(s.SCHEMA, entry["name"], env)
            except ValueError:
                continue
            found.schemas[name] = str(entry.get("owner") or "")
    for entry in doc.get("functions") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            try:
                found.functions.add(s.parse_name(s.FUNCTION, entry["name"], env))
            except ValueError:
                continue
    groups = doc.get("groups") or {}
    found.groups = {str(g) for g in groups} if isinstance(groups, dict) else set()
    return found


@dataclass(frozen=True)
class Scope:
    """A domain's own: its name, the full names of the tables and models its declarations
    produce and of its models' schemas, and what other domains' declarations hold."""

    domain: str
    env: str
    tables: frozenset[tuple[str, str]]
    """(TABLE or MODEL, `catalog.schema.name`) of its tables and models."""
    model_schemas: frozenset[str]
    foreign_schemas: Mapping[str, str]
    """Another domain's model schema (full name) → that domain's name."""


def scope(domain: str, env: str, owners: Mapping[str, str], models: frozenset[str]) -> Scope:
    """The scope of `domain` from `owners` (every loaded domain's `table_claims`: `schema.table`,
    `schema.model` or `schema <name>` → its domain's name); `models` its `schema.model`s."""
    tables, schemas, foreign = set(), set(), {}
    for claim, owner in owners.items():
        if claim.startswith("schema "):
            full = s.parse_name(s.SCHEMA, claim.removeprefix("schema "), env)
            if claim.removeprefix("schema ") in SHARED_SCHEMAS:
                continue  # a model in a shared layer: the layer stays the project's
            if owner == domain:
                schemas.add(full)
            else:
                foreign[full] = owner
        elif owner == domain:
            kind = s.MODEL if claim in models else s.TABLE
            tables.add((kind, s.parse_name(kind, claim, env)))
    return Scope(domain, env, frozenset(tables), frozenset(schemas), foreign)


def check(path: str | Path, doc: Mapping[str, Any], own: Scope, project: Declares | None,
          domains: Sequence[Declares] = ()) -> None:
    """PolicyError (`<file>: <entry>: <reason>`, one line) for the first entry of the domain
    policy `doc` outside the domain's scope `own`, given what the project policy (None: there
    is none) and the other domains' policies (`domains`) declare. See the module."""
    file, d = str(path), own.domain
    check_entries(file, dict(doc), own.env)  # malformed: refused at load, not mid-apply
    mine = declares(file, doc, own.env)
    others = [*([project] if project is not None else []), *domains]
    principals = doc.get("service_principals") or []  # well-formed: check_entries said so
    if doc.get("users"):
        raise PolicyError(f"{file}: users: a domain policy declares no user (people are the "
                          f"project policy's)")
    for i, name in enumerate(principals):
        if not str(name).startswith(f"{d}-"):
            raise PolicyError(f"{file}: service_principals[{i}]: {name!r} is not domain "
                              f"{d!r}'s: a domain policy declares only principals named "
                              f"'{d}-...'")
    if f"{d}-pipeline" not in principals:
        raise PolicyError(f"{file}: service_principals: declares no {d}-pipeline (the "
                          f"pipeline of domain {d!r} acts as it)")
    for group in doc.get("groups") or {}:
        by = [o.file for o in others if str(group) in o.groups]
        if by or not str(group).startswith(f"{d}-"):
            raise PolicyError(
                f"{file}: groups.{group}: a domain policy declares only its own groups, named "
                f"'{d}-...', and adds members to them only"
                + (f" ({group} is declared by {by[0]})" if by else ""))
    schemas = set(own.model_schemas)
    for i, entry in enumerate(doc.get("schemas") or []):
        where = f"{file}: schemas[{i}]"
        name = _target(own.env, f"SCHEMA {entry['name']}", where).name
        owner = entry.get("owner")
        if (why := _not_own_schema(name, own, others)) is not None:
            other = next((o for o in others if name in o.schemas), None)
            owners = (f" (owner {owner or 'unset'} here, {other.schemas[name] or 'unset'} "
                      f"there)" if other is not None else "")
            raise PolicyError(f"{where}: schema {name} {why}{owners}")
        schemas.add(name)
    for i, entry in enumerate(doc.get("functions") or []):
        where = f"{file}: functions[{i}]"
        name = _target(own.env, f"FUNCTION {entry['name']}", where).name
        schema = name.rsplit(".", 1)[0]
        if schema not in schemas:
            raise PolicyError(f"{where}: function {name} is in schema {schema}, not one of "
                              f"domain {d!r}'s own (a shared layer's functions are the "
                              "project policy's)")
        if by := [o.file for o in others if name in o.functions]:
            raise PolicyError(f"{where}: function {name} is also declared by {by[0]}")
    for where, target, privileges in _securables(doc, file, own.env):
        why = _outside(target, privileges, own, schemas, mine.functions)
        if why:
            raise PolicyError(f"{where}: {why}")
    for where, function in _called(doc, file, own.env):
        if function not in mine.functions | (project.functions if project else set()):
            raise PolicyError(f"{where}: function {function} is declared by neither this "
                              "policy nor the project policy")


def _not_own_schema(name: str, own: Scope, others: list[Declares]) -> str | None:
    """Why the schema a domain policy declares is not the domain's own, or None."""
    catalog, short = name.split(".")
    if name in own.model_schemas:  # its models' schema: its own, whoever else declares it
        return None
    if catalog != own.env:
        return f"is not in catalog {own.env}"
    if short in SHARED_SCHEMAS:
        return (f"is a layer every domain shares ({', '.join(SHARED_SCHEMAS)}): the project "
                "policy declares it")
    if name in own.foreign_schemas:
        return f"is domain {own.foreign_schemas[name]!r}'s model schema"
    if by := [o.file for o in others if name in o.schemas]:
        return f"is also declared by {by[0]}"
    return None


def _securables(doc: Mapping[str, Any], file: str, env: str
                ) -> Iterator[tuple[str, Target, list[str] | None]]:
    """(entry, securable, privileges granted or None) of every owner, grant, tag, row filter
    and column mask entry."""
    for section, field_name, required in (("owners", "securable", ("securable", "owner")),
                                          ("grants", "securable", ("securable", "to",
                                                                   "privileges")),
                                          ("tags", "securable", ("securable", "tags"))):
        for i, entry in enumerate(_entries(doc, section, list, file)):
            where = f"{file}: {section}[{i}]"
            e = _fields(entry, required, ("column",) if section == "tags" else (), where)
            privileges = None
            if section == "grants":
                if not isinstance(e["privileges"], list):
                    raise PolicyError(f"{where}: privileges are a non-empty list")
                privileges = [" ".join(str(x).upper().split()) for x in e["privileges"]]
            yield where, _target(env, e[field_name], where), privileges
    for section in ("row_filters", "column_masks"):
        for i, entry in enumerate(_entries(doc, section, list, file)):
            where = f"{file}: {section}[{i}]"
            if not isinstance(entry, dict) or "table" not in entry:
                raise PolicyError(f"{where}: expected a mapping with a table")
            yield where, _target(env, f"TABLE {entry['table']}", where), None


def _called(doc: Mapping[str, Any], file: str, env: str) -> Iterator[tuple[str, str]]:
    """(entry, full function name) of every row filter and column mask."""
    for section in ("row_filters", "column_masks"):
        for i, entry in enumerate(_entries(doc, section, list, file)):
            where = f"{file}: {section}[{i}]"
            if isinstance(entry, dict) and "function" in entry:
                yield where, _target(env, f"FUNCTION {entry['function']}", where).name


def _outside(target: Target, privileges: list[str] | None, own: Scope, schemas: set[str],
             functions: set[str]) -> str | None:
    """Why `target` is not the domain's own securable (or, on the catalog, why the entry asks
    more than `ON_CATALOG`), or None."""
    key = s.key(target.type, target.name)
    if target.type == s.CATALOG:
        if target.name == own.env and privileges is not None and set(privileges) <= set(
                ON_CATALOG):
            return None
        return (f"{key}: a domain policy may only grant {' or '.join(ON_CATALOG)} on the "
                f"catalog {own.env} (its owner, tags and other privileges are the admins')")
    if target.type == s.SCHEMA and target.name in schemas:
        return None
    if target.type in (s.TABLE, s.MODEL) and (
            (target.type, target.name) in own.tables
            or target.name.rsplit(".", 1)[0] in schemas):
        return None
    if target.type == s.FUNCTION and target.name in functions:
        return None
    return (f"{key} is not domain {own.domain!r}'s: a domain policy declares owners, grants, "
            "tags, row filters and column masks only on its own schemas, the tables and "
            "models its declarations produce, and the functions it declares")


def overstepping(loaded: Sequence[Declared], owners: Mapping[str, str], project: Path,
                 env: str) -> dict[str, str]:
    """Folder → why, for each package of `loaded` (healthy so far) that declares a table in
    another domain's schema (its model schema, or a schema its policy declares), or whose
    `policy.yaml` cannot be read or oversteps the domain's scope (`check`). `owners`: every
    loaded domain's `table_claims` → its domain's name; `project`: the project policy (not
    checked here: it is the admin's; unreadable, its apply fails)."""
    docs: dict[str, dict[str, Any]] = {}
    why: dict[str, str] = {}
    for d in loaded:
        if (path := Path(d.where) / POLICY_FILE).is_file():
            try:
                docs[d.where] = load(path)
            except PolicyError as error:
                why[d.where] = str(error)
    try:
        admin: Declares | None = declares(str(project), load(project), env)
    except PolicyError:  # none, or unreadable
        admin = None
    declared = {d.where: declares(str(Path(d.where) / POLICY_FILE), docs[d.where], env)
                for d in loaded if d.where in docs}
    scopes = {d.where: scope(d.domain.name, env, owners,
                             frozenset(f"{m.schema}.{m.name}" for m in d.models))
              for d in loaded}
    held = _held_schemas(loaded, declared, scopes, [admin] if admin else [])
    for d in loaded:
        own = scopes[d.where]
        theirs = {**own.foreign_schemas, **{
            schema: domain for schema, domain in held.items() if domain != own.domain}}
        for kind, name in sorted(own.tables):
            schema = name.rsplit(".", 1)[0]
            if schema in theirs and d.where not in why:
                why[d.where] = (f"{kind.lower()} {name} is in "
                                f"schema {schema}, domain {theirs[schema]!r}'s: a domain "
                                "declares tables only in its own schemas and the shared layers")
        if d.where in docs and d.where not in why:
            others = [x for where, x in declared.items() if where != d.where]
            try:
                check(declared[d.where].file, docs[d.where], own, admin, others)
            except PolicyError as error:
                why[d.where] = str(error)
    return why


def _held_schemas(loaded: Sequence[Declared], declared: Mapping[str, Declares],
                  scopes: Mapping[str, Scope], project: list[Declares]) -> dict[str, str]:
    """Schema → the domain whose policy alone declares it as its own (not a shared layer,
    not the project's, not another's model schema): a table another domain declares in it
    is refused. A schema two policies declare is no one's (both are refused)."""
    count: dict[str, list[str]] = {}
    for d in loaded:
        if d.where in declared:
            for schema in declared[d.where].schemas:
                count.setdefault(schema, []).append(d.domain.name)
    where = {d.domain.name: d.where for d in loaded}
    return {schema: names[0] for schema, names in count.items() if len(names) == 1
            and _not_own_schema(schema, scopes[where[names[0]]], project) is None}
