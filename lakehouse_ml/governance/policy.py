"""Policy files: the principals, containers, owners, grants and tags a domain declares.

    users: [name, ...]
    service_principals: [name, ...]
    groups: {group: [member, ...]}           # members: any declared principal or group
    schemas: [{name: silver, owner: data-eng, comment: "..."}]   # created if missing, owned
    owners: [{securable: SCHEMA silver, owner: data-eng}]
    grants: [{securable: CATALOG, to: churn-pipeline, privileges: [USE CATALOG]}]
    tags: [{securable: TABLE silver.customers, column: email, tags: {pii: email}}]
    functions: [{name: silver.mask_email, parameters: email STRING, returns: STRING,
                 body: "CASE WHEN is_member('pii-readers') THEN email ELSE '***' END"}]
    row_filters: [{table: silver.customers, function: silver.tenant_rows, columns: [tenant_id]}]
    column_masks: [{table: silver.customers, column: email, function: silver.mask_email,
                    using: [other_column, {literal: 4}, ...]}]    # `using` optional

(`columns` and `using` are column names and constants, `{literal: value}`, as Databricks'
`ON (...)` and `USING COLUMNS (...)` take them.)

`securable` is `TYPE [name]` (a bare `CATALOG` is the environment's catalog; names may leave the
catalog out). Applying is idempotent: what the file declares is made true; of what it no
longer declares only the grants it applied itself are taken back (nothing else is removed); a
second apply changes nothing. The whole file is checked before anything is applied; errors
name the file and the entry.

A grant a policy applied is remembered in the governance state (`APPLIED`: securable,
principal, privilege, the policy file and its sha256 when applied). Applying the policy again
(each pipeline process does) never re-grants one revoked since (`REVOKE` by an admin): the
revocation stands, and the drift between the policy and the grants is a `revoked_policy_grant`
finding of the governance audit (`revoked_since_applied`). A grant the policy declares anew is
applied, so is one removed from the file (revoked then, if this policy had applied it and it
is still held), applied without it, and declared again; `GRANT` gives a revoked one back.
(Terraform's plan shows such drift before an apply; here the pipeline applies unattended, so
it keeps the admin's revocation and reports it.)

A function is `CREATE OR REPLACE FUNCTION name(parameters) RETURNS returns RETURN body` in
Databricks SQL (checked by polars' SQL, see row_column.py); a row filter or column mask of a
function the file declares must match its parameters (mask: the column, then `using`). A table
that is filtered or masked but not created yet is declared at once (owned by its schema's
owner), so its filter and masks hold from its first row; so is a table or registered model
granted on before the pipeline creates it (a grant needs its securable).
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

from lakehouse_ml.governance import principals as p
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.metastore import Metastore
from lakehouse_ml.governance.sql import SqlError, parse_function

MAX_POLICY_BYTES = 1024 * 1024
APPLIED = "policy_grants"
"""The governance state's list of grants policies applied: `{securable, principal,
privilege, policy, sha256}`, one per grant (kept while its policy declares it)."""
ENGINE = "engine:"
"""The `policy` of a grant the engine derived from domain `d`'s declarations and applied
(`governance.domain_grants`): `engine:d`."""
SECTIONS = ("users", "service_principals", "groups", "schemas", "owners", "grants", "tags",
            "functions", "row_filters", "column_masks")


class PolicyError(ValueError):
    """A policy file that cannot be read or has a malformed entry (named in the message)."""


@dataclass(frozen=True)
class Target:
    type: str
    name: str


def _target(env: str, text: object, where: str) -> Target:
    parts = str(text).split() if isinstance(text, str) else []
    if not parts or parts[0].upper() not in s.SECURABLE_TYPES or len(parts) > 2:
        raise PolicyError(f"{where}: 'securable' must be 'TYPE [name]' with TYPE one of "
                          f"{', '.join(s.SECURABLE_TYPES)}, got {text!r}")
    kind = parts[0].upper()
    name = parts[1] if len(parts) == 2 else env if kind == s.CATALOG else ""
    try:
        return Target(kind, s.parse_name(kind, name, env))
    except ValueError as error:
        raise PolicyError(f"{where}: {error}") from error


def _entries(doc: dict[str, Any], section: str, kind: type, where: str) -> Any:
    value = doc.get(section) or kind()
    if not isinstance(value, kind):
        raise PolicyError(f"{where}: '{section}' must be a {kind.__name__}")
    return value


def _fields(entry: object, required: tuple[str, ...], optional: tuple[str, ...], where: str
            ) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise PolicyError(f"{where}: expected a mapping, got {entry!r}")
    missing = [f for f in required if f not in entry]
    unknown = sorted(map(str, set(entry) - set(required) - set(optional)))
    if missing or unknown:
        raise PolicyError(f"{where}: " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else [])
            + ([f"unknown field(s) {', '.join(unknown)}"] if unknown else [])))
    return entry


@dataclass(frozen=True)
class Source:
    """A policy file as applied: its resolved path and the sha256 of its bytes."""

    policy: str
    sha256: str


GrantKey = tuple[str, str, str]
"""(securable `TYPE full_name`, principal, privilege in Unity Catalog's spelling)."""


def _key_of(entry: dict[str, str]) -> GrantKey:
    """The grant a state's grant or applied entry names."""
    return entry["securable"], entry["principal"], entry["privilege"]


@functools.lru_cache(maxsize=32)
def _parsed(text: str) -> Any:
    """`yaml.safe_load(text)`, once per text: domain discovery loads every policy file for
    each call (~30 a run), and the pure-Python parser takes ~10 ms a file. Keyed on the
    text read, so an edited file is parsed again; `load` hands out a copy."""
    return yaml.safe_load(text)


def load(path: str | Path) -> dict[str, Any]:
    """The policy document at `path`; PolicyError naming the file if unreadable."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise PolicyError(f"{path}: larger than {MAX_POLICY_BYTES} bytes")
        doc = copy.deepcopy(_parsed(path.read_text())) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise PolicyError(f"{path}: cannot read the policy: {' '.join(str(error).split())}"
                          ) from error
    if not isinstance(doc, dict):
        raise PolicyError(f"{path}: a policy is a mapping of {', '.join(SECTIONS)}")
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise PolicyError(f"{path}: unknown section(s) {', '.join(map(str, unknown))} "
                          f"(expected {', '.join(SECTIONS)})")
    return doc


def apply_policy(path: str | Path, as_principal: str | None = None, *,
                 metastore: Metastore | None = None) -> Metastore:
    """Make the policy at `path` true in the lakehouse of `Settings.from_env()` (or in
    `metastore`), acting as `as_principal` (default: the current principal). Idempotent.
    Raises PolicyError (malformed file), or the metastore's errors (an unknown principal or
    securable, a denial) naming the entry."""
    if metastore is None:
        from lakehouse_ml.config import Settings

        settings = Settings.from_env()
        metastore = Metastore(settings.root, settings.env)
    doc = load(path)
    source = Source(str(Path(path).resolve()), hashlib.sha256(Path(path).read_bytes()
                                                             ).hexdigest())
    steps, declared = _plan(metastore, doc, str(path), source)
    for where, step in steps:
        try:
            step(as_principal=as_principal)
        except PermissionError:
            raise  # names principal, privilege and securable already
        except (LookupError, ValueError) as error:
            raise type(error)(f"{where}: {error}") from error
    _forget_undeclared(metastore, source, declared, as_principal)
    return metastore


class _Checking:
    """The metastore a plan is made against when a policy is only checked (`check_entries`):
    its catalog, and a no-op for every call the plan's steps bind (none is run)."""

    def __init__(self, env: str) -> None:
        self.env = env

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def check_entries(path: str | Path, doc: dict[str, Any], env: str) -> None:
    """PolicyError naming the file and entry for the first malformed entry of `doc` (the
    policy at `path`, loaded) in catalog `env`, as `apply_policy` checks them before anything
    is applied: fields, securables, privilege names, functions and their calls. What only the
    metastore knows (an unknown principal or securable) is checked when applied."""
    _plan(_Checking(env), doc, str(path), Source(str(path), ""))  # type: ignore[arg-type]


def _keys(privileges: list[str], kind: str, name: str, principal: str) -> list[GrantKey]:
    return [(s.key(kind, name), principal, pv.canonical(p, kind)) for p in privileges]


def _grant(m: Metastore, privileges: list[str], kind: str, name: str, principal: str,
           source: Source, *, as_principal: str | None = None) -> None:
    """Grant what the policy declares unless held already or revoked since a policy applied
    it; then remember every declared grant held as applied by `source`."""
    keys = _keys(privileges, kind, name, principal)
    state = m.store.read()
    held = {_key_of(g) for g in state["grants"]}
    applied = {_key_of(e) for e in state.get(APPLIED, [])}
    wanted = [k for k in keys if k not in held and k not in applied]
    if wanted:
        m.grant([k[2] for k in wanted], kind, name, principal, as_principal=as_principal)

    def remember(state: dict[str, Any]) -> None:  # one entry per grant and policy
        entries = state.setdefault(APPLIED, [])
        known = {_key_of(e) for e in entries if e["policy"] == source.policy}
        grants = {_key_of(g) for g in state["grants"]}
        entries += [{"securable": k[0], "principal": k[1], "privilege": k[2],
                     "policy": source.policy, "sha256": source.sha256}
                    for k in keys if k in grants and k not in known]
        entries.sort(key=_key_of)

    m.store.update(remember)


def _forget_undeclared(m: Metastore, source: Source, declared: set[GrantKey],
                       as_principal: str | None = None) -> None:
    """Revoke what `source` applied and no longer declares (still held: a grant taken out of
    the policy is taken back, as Terraform's apply does, unless another policy applied it
    too), then forget it: declared again later, it is a new grant (applied even if an admin
    had revoked it)."""
    applied = m.store.read().get(APPLIED, [])
    gone = [e for e in applied if e["policy"] == source.policy and _key_of(e) not in declared]
    others = {_key_of(e) for e in applied if e["policy"] != source.policy}
    held = {_key_of(g) for g in m.store.read()["grants"]}
    for entry in gone:  # one another policy applied too stays (a grant moved between files)
        if _key_of(entry) in held and _key_of(entry) not in others:
            kind, _, name = entry["securable"].partition(" ")
            m.revoke([entry["privilege"]], kind, name, entry["principal"],
                     as_principal=as_principal)

    def forget(state: dict[str, Any]) -> None:
        if APPLIED in state:
            state[APPLIED] = [e for e in state[APPLIED]
                              if e["policy"] != source.policy or _key_of(e) in declared]

    m.store.update(forget)


def revoked_since_applied(state: dict[str, Any]) -> list[dict[str, str]]:
    """The grants a policy applied and still declares that are no longer held (revoked since):
    `{securable, principal, privilege, policy, sha256}` each, sorted."""
    held = {_key_of(g) for g in state["grants"]}
    return [dict(e) for e in state.get(APPLIED, [])
            if _key_of(e) not in held]


def _plan(m: Metastore, doc: dict[str, Any], file: str, source: Source
          ) -> tuple[list[tuple[str, Callable[..., Any]]], set[GrantKey]]:
    """Every change the policy asks for, checked, in dependency order; the grants it
    declares."""
    steps: list[tuple[str, Callable[..., Any]]] = []
    declared: set[GrantKey] = set()
    for section, kind in (("users", p.USER), ("service_principals", p.SERVICE_PRINCIPAL)):
        for i, name in enumerate(_entries(doc, section, list, file)):
            where = f"{file}: {section}[{i}]"
            if not isinstance(name, str):
                raise PolicyError(f"{where}: a principal name is a string, got {name!r}")
            steps.append((where, partial(m.add_principal, name, kind)))
    groups = _entries(doc, "groups", dict, file)
    for group, members in groups.items():
        where = f"{file}: groups.{group}"
        if not isinstance(members, list) or not all(isinstance(x, str) for x in members):
            raise PolicyError(f"{where}: members are a list of principal names")
        steps.append((where, partial(m.add_principal, group, p.GROUP)))
    for group, members in groups.items():
        steps += [(f"{file}: groups.{group}", partial(m.add_member, group, member))
                  for member in members]
    for i, entry in enumerate(_entries(doc, "schemas", list, file)):
        where = f"{file}: schemas[{i}]"
        e = _fields(entry, ("name",), ("owner", "comment"), where)
        name = _target(m.env, f"SCHEMA {e['name']}", where).name
        steps.append((where, partial(m.create, s.SCHEMA, name, owner=e.get("owner"),
                                     comment=str(e.get("comment", "")))))
        if e.get("owner"):  # also when the schema existed already
            steps.append((where, partial(m.set_owner, s.SCHEMA, name, str(e["owner"]))))
    for i, entry in enumerate(_entries(doc, "owners", list, file)):
        where = f"{file}: owners[{i}]"
        e = _fields(entry, ("securable", "owner"), (), where)
        t = _target(m.env, e["securable"], where)
        steps.append((where, partial(m.set_owner, t.type, t.name, str(e["owner"]))))
    for i, entry in enumerate(_entries(doc, "grants", list, file)):
        where = f"{file}: grants[{i}]"
        e = _fields(entry, ("securable", "to", "privileges"), (), where)
        t = _target(m.env, e["securable"], where)
        if not isinstance(e["privileges"], list) or not e["privileges"]:
            raise PolicyError(f"{where}: privileges are a non-empty list")
        if t.type in (s.TABLE, s.MODEL):
            steps.append((where, partial(_declare, m, t.type, t.name)))
        try:
            privileges = [pv.canonical(str(x), t.type) for x in e["privileges"]]
        except ValueError as error:
            raise PolicyError(f"{where}: {error}") from error
        steps.append((where, partial(_grant, m, privileges, t.type, t.name, str(e["to"]),
                                     source)))
        declared.update(_keys(privileges, t.type, t.name, str(e["to"])))
    for i, entry in enumerate(_entries(doc, "tags", list, file)):
        where = f"{file}: tags[{i}]"
        e = _fields(entry, ("securable", "tags"), ("column",), where)
        t = _target(m.env, e["securable"], where)
        if not isinstance(e["tags"], dict):
            raise PolicyError(f"{where}: tags are a mapping of key to value")
        tags = {str(k): "" if v is None else str(v) for k, v in e["tags"].items()}
        steps.append((where, partial(m.set_tags, t.type, t.name, tags,
                                     column=e.get("column"))))
    return steps + _row_column_steps(m, doc, file), declared


def _arguments(value: object, what: str, where: str) -> list[str | dict[str, str]]:
    """Column names and constants (`{literal: value}`: a string, number, boolean or null)."""
    def one(item: object) -> str | dict[str, str]:
        if isinstance(item, str) and item:
            return item
        if isinstance(item, dict) and set(item) == {"literal"}:
            v = item["literal"]
            if v is None or isinstance(v, bool):
                return {"literal": {None: "NULL", True: "TRUE", False: "FALSE"}[v]}
            if isinstance(v, (int, float)):
                return {"literal": exp.Literal.number(v).sql("databricks")}
            if isinstance(v, str):
                return {"literal": exp.Literal.string(v).sql("databricks")}
        raise PolicyError(f"{where}: {what} are a list of column names and constants "
                          f"({{literal: value}}), got {item!r}")

    if not isinstance(value, list):
        raise PolicyError(f"{where}: {what} are a list of column names and constants")
    return [one(item) for item in value]


def _row_column_steps(m: Metastore, doc: dict[str, Any], file: str
                      ) -> list[tuple[str, Callable[..., Any]]]:
    """Functions, then the row filters and column masks that call them."""
    steps: list[tuple[str, Callable[..., Any]]] = []
    arity: dict[str, int] = {}
    for i, entry in enumerate(_entries(doc, "functions", list, file)):
        where = f"{file}: functions[{i}]"
        e = _fields(entry, ("name", "parameters", "body"), ("returns",), where)
        returns = f" RETURNS {e['returns']}" if e.get("returns") else ""
        try:
            f = parse_function(f"CREATE OR REPLACE FUNCTION {e['name']}({e['parameters']})"
                               f"{returns} RETURN {e['body']}")
            name = _target(m.env, f"FUNCTION {f.name}", where).name
        except SqlError as error:
            raise PolicyError(f"{where}: {error}") from error
        arity[name] = len(f.definition["parameters"])
        steps.append((where, partial(m.create, s.FUNCTION, name, definition=f.definition,
                                     replace=True)))
    uses = [(f"{file}: row_filters[{i}]", e, None) for i, e in enumerate(
        _entries(doc, "row_filters", list, file))] + [
        (f"{file}: column_masks[{i}]", e, "column") for i, e in enumerate(
            _entries(doc, "column_masks", list, file))]
    for where, entry, column in uses:
        if column is None:
            e = _fields(entry, ("table", "function", "columns"), (), where)
            args = _arguments(e["columns"], "columns", where)
        else:
            e = _fields(entry, ("table", "column", "function"), ("using",), where)
            args = [str(e["column"]), *_arguments(e.get("using") or [], "using", where)]
        table = _target(m.env, f"TABLE {e['table']}", where).name
        function = _target(m.env, f"FUNCTION {e['function']}", where).name
        if function in arity and arity[function] != len(args):
            raise PolicyError(f"{where}: function {function} takes {arity[function]} "
                              f"argument(s), called with {len(args)}")
        steps.append((where, partial(_declare, m, s.TABLE, table)))
        steps.append((where, partial(m.set_row_filter, table, function, args)
                      if column is None else
                      partial(m.set_column_mask, table, args[0], function, args[1:])))
    return steps


def _declare(m: Metastore, kind: str, name: str, *, as_principal: str | None = None) -> None:
    """Declare the table or registered model `name` (owned by its schema's owner) unless it
    exists."""
    try:
        m.securable(kind, name)
    except s.UnknownSecurable:
        owner = m.securable(s.SCHEMA, name.rsplit(".", 1)[0]).owner
        m.create(kind, name, owner=owner, as_principal=as_principal)
