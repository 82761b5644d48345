"""The governance Python API: one `Metastore` per lakehouse root and environment.

Every change is one transaction on the durable state (store.py) made by an acting principal
(`as_principal`, default `current_principal()`), allowed by the rules of privileges.py, and
recorded in the audit log (service `unityCatalog`, Databricks' action names), denials too.

A request that changes nothing (creating what exists as it is, granting a privilege held,
revoking one not held, adding a member already in the group, setting an owner, comment, tag,
row filter or mask to what it is) commits no version and writes no record: Unity Catalog's
audit log is a log of requests, but here a 200 record of `createSchema` or
`updatePermissions` is read as "this changed", and every process that opens the lakehouse
re-applies the domain's policy, which would fill the log with changes that never happened.
The right to make the request is checked first, so a denied no-op is still audited (403), and
a refused one (400).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from lakehouse_ml.catalog.names import TableName
from lakehouse_ml.catalog.registry import RegisteredTable, Registry
from lakehouse_ml.governance import principals as p
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.store import State, Store

T = TypeVar("T")
Argument = str | Mapping[str, str]
"""A row filter's or column mask's argument: a column name or `{"literal": Databricks SQL}`."""
SERVICE = "unityCatalog"
CREATE_PRIVILEGE = {s.CATALOG: pv.CREATE_CATALOG, s.SCHEMA: pv.CREATE_SCHEMA,
                    s.TABLE: pv.CREATE_TABLE, s.MODEL: pv.CREATE_MODEL,
                    s.FUNCTION: pv.CREATE_FUNCTION}
CREATE_ACTION = {s.CATALOG: "createCatalog", s.SCHEMA: "createSchema", s.TABLE: "createTable",
                 s.MODEL: "createRegisteredModel", s.FUNCTION: "createFunction"}
GET_ACTION = {s.METASTORE: "getMetastore", s.CATALOG: "getCatalog", s.SCHEMA: "getSchema",
              s.TABLE: "getTable", s.MODEL: "getRegisteredModel", s.FUNCTION: "getFunction"}
UPDATE_ACTION = {s.METASTORE: "updateMetastore", s.CATALOG: "updateCatalog",
                 s.SCHEMA: "updateSchema", s.TABLE: "updateTables",
                 s.MODEL: "updateRegisteredModel", s.FUNCTION: "updateFunction"}


def audit(root: str, env: str, user: str, action: str, params: Mapping[str, str],
          error: Exception | None = None, service: str = SERVICE) -> None:
    """One record in the lakehouse's audit log, of `service` (default `unityCatalog`; 403 for
    a denial, 400 for another refusal)."""
    from lakehouse_ml.governance.audit import audit_log

    status = 200 if error is None else 403 if isinstance(error, pv.PermissionDenied) else 400
    audit_log(root, env).record(user=user, service=service, action=action, params=params,
                                status_code=status, error=None if error is None else str(error))


def _fits(function: s.Securable, arguments: int, row_filter: bool) -> None:
    """Refuse (ValueError naming it) a function that cannot be called with `arguments`
    arguments, or as a row filter, one declared to return another type than BOOLEAN."""
    definition = function.definition or {}
    parameters = len(definition.get("parameters", ()))
    if parameters != arguments:
        raise ValueError(f"function {function.name} takes {parameters} argument(s), "
                         f"called with {arguments}")
    returns = str(definition.get("returns", "")).upper()
    if row_filter and returns not in ("", "BOOLEAN"):
        raise ValueError(f"function {function.name} returns {returns}, a row filter must "
                         "return BOOLEAN")


class Metastore:
    """Securables, principals and grants of the lakehouse at `root`; names without a catalog
    are in `env`. Errors: ValueError (malformed input), UnknownPrincipal, UnknownSecurable,
    MembershipCycle, PermissionDenied, each naming what it is about."""

    def __init__(self, root: str, env: str) -> None:
        self.root, self.env = root.rstrip("/"), env
        self.store = Store(self.root, p.local_user())
        self.registry = Registry(self.root)
        self._local = Path(self.root.removeprefix("file://"))
        self._latest: tuple[int, State] | None = None

    def latest(self) -> State:
        """The latest governance state (do not mutate it), for a check on every read: while
        nothing changed it costs one `stat` (does the version after the last one seen
        exist?) instead of listing every version."""
        seen = self._latest
        if seen is not None and not self.store.moved_past(seen[0]):
            return seen[1]
        version = self.store.version()
        state = self.store.read()  # this version or a later one: seen again next time
        self._latest = (version, state)
        return state

    # reading
    def namespace(self, state: State | None = None) -> s.Namespace:
        cache: dict[str, list[RegisteredTable]] = {}

        def registered() -> list[RegisteredTable]:
            if "all" not in cache:
                cache["all"] = [t for c in self._catalog_dirs() for t in self.registry.list(c)]
            return cache["all"]

        docs: dict[str, RegisteredTable | None] = {}

        def table(name: str) -> RegisteredTable | None:
            if name not in docs:  # read once per namespace (one check, one change)
                docs[name] = self.registry.get(TableName(*name.split(".")))
            return docs[name]

        def holds_tables(name: str) -> bool:
            catalog, _, schema = name.partition(".")
            folder = self._local / catalog / "_catalog" / schema
            return folder.is_dir() and any(folder.rglob("*.json"))

        return s.Namespace(self.store.read() if state is None else state, table, registered,
                           self.env, holds_tables)

    def _catalog_dirs(self) -> list[str]:
        base = self._local
        return sorted(d.parent.name for d in base.glob("*/_catalog") if d.is_dir()
                      ) if base.is_dir() else []

    def securable(self, kind: str, name: str) -> s.Securable:
        return self.namespace().get(kind, s.parse_name(kind, name, self.env))

    def resolve(self, name: str) -> s.Securable:
        """A securable by name alone (`metastore`, `dev`, `dev.silver`, `dev.silver.t`; a
        three-part name is looked up as table, model, then function), whoever asks: for the
        engine; what a caller asks to see goes through `describe`."""
        return self._resolve(name, None)

    def children(self, name: str | None = None) -> list[s.Securable]:
        """What `name` contains (default: the catalogs of the metastore), whoever asks."""
        parent = self.resolve(name or s.METASTORE_NAME)
        return self.namespace().children(parent.type, parent.name)

    def describe(self, name: str, *, as_principal: str | None = None,
                 kind: str | None = None) -> s.Securable:
        """`resolve(name)` as the acting principal may see it (`privileges.visible`: BROWSE on
        its catalog, or USE CATALOG/USE SCHEMA on its containers and a privilege on it).

        A name the principal may not see is denied, whether or not it exists: Unity Catalog
        answers PERMISSION_DENIED to a caller without the privileges to read an object's
        metadata, and here the same answer is given for a missing name (the check reads the
        grants only), so a denial says nothing about existence. PermissionDenied naming the
        principal, BROWSE and the name asked for (typed where the name is of one type only),
        audited (403, action `getCatalog`, `getSchema`, ..., `getSecurable` for a three-part
        name); UnknownSecurable only to a principal who could see it if it existed. `kind`
        (e.g. TABLE) looks `name` up as that type only (denied as `TABLE <name>`, action
        `getTable`): the Catalog's metadata calls on a table use this rule."""
        who = p.current_principal(as_principal)
        if kind is not None:
            return self._lookup([kind], name, who)
        return self._resolve(name, who)

    def visible(self, kind: str, names: Sequence[str], *, as_principal: str | None = None
                ) -> set[str]:
        """Those of `names` (full names of `kind`) the acting principal may see, by the rule of
        `describe` and `listing` (`privileges.visible`), each as it is declared or as its
        `Namespace.named` stand-in; answered from one namespace, leaving no record (a listing
        filters, it denies nothing)."""
        who = p.current_principal(as_principal)
        ns = self.namespace()
        return {name for name in names
                if pv.visible(ns, who, ns.find(kind, name) or ns.named(kind, name))}

    def listing(self, name: str | None = None, *, as_principal: str | None = None
                ) -> list[s.Securable]:
        """`children(name)` that the acting principal may see, after `describe(name)` (denied
        as it is); the metastore's catalogs by default (only those it may see)."""
        who = p.current_principal(as_principal)
        parent = self._resolve(name or s.METASTORE_NAME, who)
        ns = self.namespace()
        return [c for c in ns.children(parent.type, parent.name) if pv.visible(ns, who, c)]

    def _resolve(self, name: str, who: str | None) -> s.Securable:
        """`name` looked up as each type a name of its depth may be, as `who` may see it
        (everything when `who` is None); see `describe`."""
        depth = 0 if name == s.METASTORE_NAME else len(name.split("."))
        kinds = {0: [s.METASTORE], 1: [s.CATALOG], 2: [s.SCHEMA],
                 3: [s.TABLE, s.MODEL, s.FUNCTION]}.get(depth)
        if kinds is None:
            raise ValueError(f"invalid securable name {name!r}: catalog[.schema[.object]]")
        return self._lookup(kinds, name, who)

    def _lookup(self, kinds: Sequence[str], name: str, who: str | None,
                action: str | None = None) -> s.Securable:
        """The first of `kinds` named `name` that exists and `who` may see (anyone when
        None); UnknownSecurable if none exists, PermissionDenied (audited as `action`,
        default `get<Type>`) if `who` may see none of them (see `describe`)."""
        ns = self.namespace()
        named = [ns.named(kind, s.parse_name(kind, name, self.env)) for kind in kinds]
        seen = [n for n in named if who is None or pv.visible(ns, who, n)]
        for securable in seen:
            found = ns.find(securable.type, securable.name)
            if found is not None:
                return found
        if seen or who is None:
            raise s.UnknownSecurable(f"no {' or '.join(k.lower() for k in kinds)} named "
                                     f"{name}")
        label = named[0].key if len(kinds) == 1 else named[0].name
        denied = pv.PermissionDenied(who, pv.BROWSE, label, "needed to see it: BROWSE on its "
                                     "catalog, or USE on its containers and a privilege on it")
        default = GET_ACTION[kinds[0]] if len(kinds) == 1 else "getSecurable"
        audit(self.root, self.env, who, action or default, {"securable": label}, denied)
        raise denied

    def effective_privileges(self, principal: str, kind: str, name: str) -> list[pv.Source]:
        ns = self.namespace()
        p.principal_type(ns.state, principal)
        return pv.effective_privileges(ns, principal, ns.get(kind, s.parse_name(
            kind, name, self.env)))

    def check(self, principal: str, privilege: str, kind: str, name: str) -> None:
        """Raise PermissionDenied (naming principal, privilege, securable) unless allowed;
        the denial is audited. An undeclared principal holds nothing. UnknownSecurable
        (before any check, not audited) if `kind name` does not exist: see `check_named`."""
        ns = self.namespace()
        self._check(ns, principal, privilege, ns.get(kind, s.parse_name(kind, name, self.env)))

    def check_named(self, principal: str, privilege: str, kind: str, name: str) -> bool:
        """`check` that tells nothing about existence to a principal without the privilege:
        a securable that does not exist is checked as its `Namespace.named` stand-in (from
        the grants on its containers alone, as `create` checks), so the denial (audited, 403)
        is the same whether or not it exists. Returns whether it exists; False is said only
        to a principal who would hold the privilege on it."""
        ns = self.namespace()
        full = s.parse_name(kind, name, self.env)
        found = ns.find(kind, full)
        self._check(ns, principal, privilege, found or ns.named(kind, full))
        return found is not None

    def _check(self, ns: s.Namespace, principal: str, privilege: str, target: s.Securable
               ) -> None:
        privilege = pv.canonical(privilege, target.type)
        try:
            p.acting_type(ns.state, principal)
            pv.check(ns, principal, privilege, target)
        except p.UnknownPrincipal as error:
            denied = pv.PermissionDenied(principal, privilege, target.key, str(error))
            self._denied(principal, "checkPermission", target, denied)
            raise denied from error
        except pv.PermissionDenied as denied:
            self._denied(principal, "checkPermission", target, denied)
            raise

    def show_grants(self, kind: str, name: str, principal: str | None = None, *,
                    as_principal: str | None = None) -> list[dict[str, str]]:
        """Grants on the securable and on its containers (inherited), as Databricks' SHOW
        GRANTS rows: principal, action_type, object_type, object_key; only `principal`'s
        (direct) grants if given. Only to an acting principal who may see the securable:
        denied otherwise, whether or not it exists, as `describe`."""
        target = self._lookup([kind], name, p.current_principal(as_principal),
                              "getPermissions")
        ns = self.namespace()
        if principal is not None:
            p.principal_type(ns.state, principal)
        chain = {s.key(k, n) for k, n in s.parents(target.type, target.name)}
        rows = [{"principal": g["principal"], "action_type": g["privilege"],
                 "object_type": g["securable"].split(" ", 1)[0],
                 "object_key": g["securable"].split(" ", 1)[1]}
                for g in ns.state["grants"] if g["securable"] in chain
                and (principal is None or g["principal"] == principal)]
        return sorted(rows, key=lambda r: (r["object_type"], r["object_key"], r["principal"],
                                           r["action_type"]))

    # changes
    def _change(self, actor: str | None, action: str, target: tuple[str, str] | None,
                params: Mapping[str, str], change: Callable[[State, s.Namespace, str], T],
                manage: bool = True) -> T:
        """Run `change(state, namespace, actor)` as one transaction after checking `actor`
        may manage `target`; audit a denial (403), a refusal (400) or a committed change
        (200), and nothing when the change left the state as it was."""
        who = p.current_principal(actor)

        def apply(state: State) -> T:
            ns = self.namespace(state)
            if state["principals"].get(who, {}).get("type") == p.GROUP:
                p.acting_type(state, who)  # a group does not act
            if manage and target is not None:
                securable = ns.get(*target)
                if not pv.may_manage(ns, who, securable):
                    raise pv.PermissionDenied(who, pv.MANAGE, securable.key,
                                              "only its owner, a container's owner, a MANAGE "
                                              "holder or a metastore admin may change it")
            elif manage and not p.is_admin(state, p.identities(state, who)):
                raise pv.PermissionDenied(who, "metastore admin", "METASTORE metastore")
            return change(state, ns, who)

        try:
            result, changed = self.store.commit(apply)
        except (ValueError, LookupError, PermissionError) as error:
            audit(self.root, self.env, who, action, params, error)
            raise
        if changed:
            audit(self.root, self.env, who, action, params)
        return result

    def _denied(self, who: str, action: str, target: s.Securable, error: Exception) -> None:
        audit(self.root, self.env, who, action, {"securable": target.key}, error)

    def add_principal(self, name: str, kind: str = p.USER, *, as_principal: str | None = None
                      ) -> None:
        """Declare a user, group or service principal (metastore admins only)."""
        self._change(as_principal, "createPrincipal", None, {"principal": name, "type": kind},
                     lambda state, ns, who: p.add_principal(state, name, kind))

    def add_member(self, group: str, member: str, *, as_principal: str | None = None) -> None:
        """Put `member` in `group`; a cycle is refused (metastore admins only)."""
        self._change(as_principal, "updateGroupMembers", None,
                     {"group": group, "member": member},
                     lambda state, ns, who: p.add_member(state, group, member))

    def remove_member(self, group: str, member: str, *, as_principal: str | None = None
                      ) -> None:
        self._change(as_principal, "updateGroupMembers", None,
                     {"group": group, "removed": member},
                     lambda state, ns, who: p.remove_member(state, group, member))

    def create(self, kind: str, name: str, *, owner: str | None = None, comment: str = "",
               table_kind: str = "", if_not_exists: bool = True, replace: bool = False,
               as_principal: str | None = None, **extra: Any) -> s.Securable:
        """Declare a catalog, schema, table (`table_kind` 'FEATURE TABLE' for a feature
        table), registered model or function (`definition=` its parsed SQL); needs the CREATE
        privilege on its container (USE on the containers above). The creator owns it unless
        `owner` is given. An existing one is returned (`if_not_exists`, no record: 19cff15),
        refused (ValueError, 400), or with `replace` given the new comment and `extra` (by
        whoever may also manage it).

        The privilege is checked first, before anything is looked up, as in Unity Catalog (a
        caller without CREATE SCHEMA on the catalog gets PERMISSION_DENIED for `CREATE SCHEMA
        IF NOT EXISTS` whether or not the schema exists): PermissionDenied (403) naming
        principal, the first missing privilege and its securable, the same answer whether the
        securable, or its container, exists or not. Only then: a missing container is
        UnknownSecurable (400), an existing securable a no-op, a refusal or a replacement."""
        full = s.parse_name(kind, name, self.env)
        container = s.parents(kind, full)[1]

        def change(state: State, ns: s.Namespace, who: str) -> s.Securable:
            pv.check(ns, who, CREATE_PRIVILEGE[kind], ns.named(*container))
            found = ns.find(kind, full)
            if found is not None and replace:
                if not pv.may_manage(ns, who, found):
                    raise pv.PermissionDenied(who, pv.MANAGE, found.key, "needed to replace it")
                s.assign(state, found, comment=comment, **extra)
                return ns.get(kind, full)  # ns reads this same state
            if found is not None:
                if if_not_exists:
                    return found
                raise ValueError(f"{kind.lower()} {full} already exists")
            ns.get(*container)  # UnknownSecurable if it does not exist
            if owner is not None:
                p.principal_type(state, owner)
            entry = s.stored(state, kind, full)
            # no empty comment stored: it would hide the comment of the table's document
            # once the table declared ahead of its creation (a grant on it) is created
            entry.update(owner=owner or who, **({"comment": comment} if comment else {}),
                         **extra)
            if table_kind:
                entry["kind"] = table_kind
            return ns.get(kind, full)  # ns reads this same state

        return self._change(as_principal, CREATE_ACTION[kind], None,
                            {"securable": s.key(kind, full)}, change, manage=False)

    def grant(self, privileges: Sequence[str], kind: str, name: str, principal: str, *,
              as_principal: str | None = None) -> None:
        self._permissions(privileges, kind, name, principal, as_principal, add=True)

    def revoke(self, privileges: Sequence[str], kind: str, name: str, principal: str, *,
               as_principal: str | None = None) -> None:
        """Takes effect at once: the next check reads the new state."""
        self._permissions(privileges, kind, name, principal, as_principal, add=False)

    def _permissions(self, privileges: Sequence[str], kind: str, name: str, principal: str,
                     actor: str | None, *, add: bool) -> None:
        full = s.parse_name(kind, name, self.env)
        named = sorted({pv.canonical(given, kind) for given in privileges})
        def change(state: State, ns: s.Namespace, who: str) -> None:
            p.principal_type(state, principal)
            grants = state["grants"]
            on = s.key(kind, full)
            if add:
                grants.extend(g for g in ({"securable": on, "principal": principal,
                                           "privilege": n} for n in named) if g not in grants)
            else:  # REVOKE ALL PRIVILEGES takes back every grant but MANAGE, as it gave
                gone = set(named) | (set(pv.APPLICABLE[kind]) - {pv.MANAGE}
                                     if pv.ALL_PRIVILEGES in named else set())
                grants[:] = [g for g in grants if not (
                    g["securable"] == on and g["principal"] == principal
                    and g["privilege"] in gone)]
            grants.sort(key=lambda g: (g["securable"], g["principal"], g["privilege"]))

        key = "add" if add else "remove"
        self._change(actor, "updatePermissions", (kind, full),
                     {"securable": s.key(kind, full), "principal": principal,
                      key: ",".join(named)}, change)

    def set_owner(self, kind: str, name: str, owner: str, *, as_principal: str | None = None
                  ) -> None:
        full = s.parse_name(kind, name, self.env)

        def change(state: State, ns: s.Namespace, who: str) -> None:
            p.principal_type(state, owner)
            if kind == s.METASTORE:
                raise ValueError("the metastore's owner is its admins: add a metastore admin")
            s.assign(state, ns.get(kind, full), owner=owner)

        self._change(as_principal, UPDATE_ACTION[kind], (kind, full),
                     {"securable": s.key(kind, full), "owner": owner}, change)

    def set_tags(self, kind: str, name: str, tags: Mapping[str, str], *,
                 column: str | None = None, unset: bool = False,
                 as_principal: str | None = None) -> None:
        """Set (or with `unset`, remove the keys of) tags on a securable or on one column of
        a table; needs APPLY TAG (with USE on the containers) or the right to manage it."""
        full = s.parse_name(kind, name, self.env)
        where = f"{kind.lower()} {full}" + (f" column {column}" if column else "")
        s.validate_tags(dict(tags), where)

        def change(state: State, ns: s.Namespace, who: str) -> None:
            target = ns.get(kind, full)
            if not pv.may_manage(ns, who, target):
                pv.check(ns, who, pv.APPLY_TAG, target)
            if column is None:
                kept = {k: v for k, v in target.tags.items() if k not in tags}
                s.assign(state, target, tags=kept if unset else {**target.tags, **tags})
                return
            if kind != s.TABLE:
                raise ValueError(f"column tags are only on tables, not on {where}")
            columns = {c: dict(t) for c, t in target.column_tags.items()}
            now = columns.get(column, {})
            columns[column] = {k: v for k, v in now.items() if k not in tags} if unset \
                else {**now, **tags}
            s.assign(state, target, column_tags={c: t for c, t in columns.items() if t})

        self._change(as_principal, UPDATE_ACTION[kind], (kind, full),
                     {"securable": s.key(kind, full), "column": column or "",
                      "unset" if unset else "set": ",".join(f"{k}={v}" for k, v in
                                                            tags.items())},
                     change, manage=False)

    def set_row_filter(self, table: str, function: str | None,
                       columns: Sequence[Argument] = (), *, as_principal: str | None = None
                       ) -> None:
        """Store (or with `function` None, drop) a table's row filter: the function is called
        with `columns` (evaluated at every read: row_column.py). Needs to manage the table and
        EXECUTE on the function; ValueError if the function takes another number of arguments
        or is declared to return another type than BOOLEAN (a mask: 1 + len(using)), or an
        argument is neither a column name nor `{"literal": sql}` of one constant."""
        self._policy_function(table, function, None, columns, as_principal)

    def set_column_mask(self, table: str, column: str, function: str | None,
                        using: Sequence[Argument] = (), *, as_principal: str | None = None
                        ) -> None:
        """Store (or drop) the mask of `column`: `function(column, *using)`."""
        self._policy_function(table, function, column, using, as_principal)

    def _policy_function(self, table: str, function: str | None, column: str | None,
                         columns: Sequence[Argument], actor: str | None) -> None:
        full = s.parse_name(s.TABLE, table, self.env)
        fn = None if function is None else s.parse_name(s.FUNCTION, function, self.env)
        if fn is not None:
            # imported here: row_column imports this module
            from lakehouse_ml.governance.row_column import PolicyFunctionError, check_arguments

            try:
                check_arguments(fn, columns)
            except PolicyFunctionError as error:
                raise ValueError(str(error)) from None

        def change(state: State, ns: s.Namespace, who: str) -> None:
            if fn is not None:
                found = ns.get(s.FUNCTION, fn)
                pv.check(ns, who, pv.EXECUTE, found)
                _fits(found, len(columns) + (column is not None), column is None)
            table = ns.get(s.TABLE, full)
            spec = None if fn is None else {"function": fn, "columns": [
                c if isinstance(c, str) else dict(c) for c in columns]}
            if column is None:
                s.assign(state, table, row_filter=spec)
                return
            masks = dict(table.column_masks)
            masks.pop(column, None)
            s.assign(state, table, column_masks=masks if spec is None else {**masks, column: spec})

        self._change(actor, "updateTables", (s.TABLE, full),
                     {"securable": s.key(s.TABLE, full), "function": fn or "",
                      "column": column or "", "what": "row filter" if column is None
                      else "column mask"}, change)
