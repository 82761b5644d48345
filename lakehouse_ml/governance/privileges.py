"""Unity Catalog's privileges and their rules, over a `Namespace` (see securables.py).

- A grant is `{"securable": "<TYPE> <name>", "principal": p, "privilege": P}`; a privilege
  granted on a catalog or schema applies to everything inside it (inheritance).
- Which privileges apply to which securable (`APPLICABLE`) follows Unity Catalog's privilege
  reference; `ALL PRIVILEGES` grants every applicable privilege except `MANAGE`.
- The owner of a securable holds all its privileges (and so, by inheritance, those on what it
  contains). Metastore admins hold every privilege (in Unity Catalog they can grant
  themselves any; here it is implicit so the embedded default needs no setup).
- Using an object inside a catalog needs `USE CATALOG` on it, inside a schema `USE SCHEMA`
  too (reading a table: USE CATALOG + USE SCHEMA + SELECT).
- Who may grant on a securable: its owner, the owner of a catalog or schema containing it, a
  holder of `MANAGE` on it (directly or inherited), a metastore admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse_ml.governance.principals import identities, is_admin
from lakehouse_ml.governance.securables import (
    CATALOG,
    FUNCTION,
    METASTORE,
    MODEL,
    SCHEMA,
    TABLE,
    Namespace,
    Securable,
    key,
    parents,
)

USE_CATALOG, USE_SCHEMA, SELECT, MODIFY = "USE CATALOG", "USE SCHEMA", "SELECT", "MODIFY"
CREATE_SCHEMA, CREATE_TABLE, CREATE_MODEL = "CREATE SCHEMA", "CREATE TABLE", "CREATE MODEL"
CREATE_FUNCTION, EXECUTE, APPLY_TAG = "CREATE FUNCTION", "EXECUTE", "APPLY TAG"
BROWSE, MANAGE, ALL_PRIVILEGES = "BROWSE", "MANAGE", "ALL PRIVILEGES"
CREATE_CATALOG = "CREATE CATALOG"

_SCHEMA_LEVEL = (USE_SCHEMA, SELECT, MODIFY, CREATE_TABLE, CREATE_MODEL, CREATE_FUNCTION,
                 EXECUTE, APPLY_TAG, MANAGE)
APPLICABLE: dict[str, tuple[str, ...]] = {
    METASTORE: (CREATE_CATALOG, MANAGE),
    CATALOG: (USE_CATALOG, CREATE_SCHEMA, BROWSE, *_SCHEMA_LEVEL),
    SCHEMA: _SCHEMA_LEVEL,
    TABLE: (SELECT, MODIFY, APPLY_TAG, MANAGE),
    MODEL: (EXECUTE, APPLY_TAG, MANAGE),
    FUNCTION: (EXECUTE, MANAGE),
}
PRIVILEGES = (USE_CATALOG, USE_SCHEMA, SELECT, MODIFY, CREATE_CATALOG, CREATE_SCHEMA,
              CREATE_TABLE, CREATE_MODEL, CREATE_FUNCTION, EXECUTE, APPLY_TAG, BROWSE, MANAGE,
              ALL_PRIVILEGES)


class PermissionDenied(PermissionError):
    """A principal lacks a privilege on a securable; the message names all three."""

    def __init__(self, principal: str, privilege: str, securable: str, why: str = "") -> None:
        self.principal, self.privilege, self.securable = principal, privilege, securable
        super().__init__(f"permission denied: {principal!r} does not have {privilege} on "
                         f"{securable}{f' ({why})' if why else ''}")


@dataclass(frozen=True, order=True)
class Source:
    """Where an effective privilege comes from: the securable (`TYPE name`) holding the grant
    and the grantee it was granted to (the principal or one of its groups); `via` is
    'grant', 'owner' or 'metastore admin'."""

    privilege: str
    securable: str
    grantee: str
    via: str = "grant"


def canonical(privilege: str, securable_type: str) -> str:
    """`privilege` in Unity Catalog's spelling, checked to apply to `securable_type`. Raises
    ValueError naming both."""
    name = " ".join(str(privilege).upper().split())
    if name not in PRIVILEGES:
        raise ValueError(f"unknown privilege {privilege!r}: one of {', '.join(PRIVILEGES)}")
    applicable = APPLICABLE[securable_type]
    if name != ALL_PRIVILEGES and name not in applicable:
        raise ValueError(f"privilege {name} does not apply to a {securable_type.lower()} "
                         f"(it takes {', '.join(applicable)})")
    return name


def expand(privilege: str, securable_type: str) -> list[str]:
    """What a grant of `privilege` gives on a `securable_type`: `ALL PRIVILEGES` is every
    applicable privilege but MANAGE (an ALL PRIVILEGES grant on a catalog reaches a table
    inside as the table's privileges)."""
    if privilege == ALL_PRIVILEGES:
        return [p for p in APPLICABLE[securable_type] if p != MANAGE]
    return [privilege] if privilege in APPLICABLE[securable_type] else []


def effective_privileges(ns: Namespace, principal: str, securable: Securable) -> list[Source]:
    """Every privilege `principal` holds on `securable`, once per source (a grant on it or on
    a container, to the principal or a group it is in; ownership; metastore admin), sorted.
    Only privileges applicable to the securable's type are listed."""
    who = identities(ns.state, principal)
    applicable = APPLICABLE[securable.type]
    found: set[Source] = set()
    if is_admin(ns.state, who):
        found |= {Source(p, "METASTORE metastore", principal, "metastore admin")
                  for p in applicable}
    chain = parents(securable.type, securable.name)
    keys = {key(k, n) for k, n in chain}
    for grant in ns.state["grants"]:
        if grant["securable"] in keys and grant["principal"] in who:
            found |= {Source(privilege, grant["securable"], grant["principal"])
                      for privilege in expand(grant["privilege"], securable.type)}
    for kind, name in chain:
        owned = ns.find(kind, name)
        if owned is not None and owned.owner in who:
            found |= {Source(p, owned.key, owned.owner, "owner") for p in applicable}
    return sorted(found)


def holds(ns: Namespace, principal: str, privilege: str, securable: Securable) -> bool:
    return any(s.privilege == privilege for s in effective_privileges(ns, principal, securable))


def usage_requirements(securable: Securable) -> list[tuple[str, str, str]]:
    """`(privilege, type, name)` a principal needs to use `securable`: USE CATALOG and USE
    SCHEMA on the catalog and schema it is or is in (creating a schema in a catalog needs
    USE CATALOG on it, as in Unity Catalog)."""
    needs = []
    for kind, name in parents(securable.type, securable.name):
        if kind == CATALOG:
            needs.append((USE_CATALOG, kind, name))
        elif kind == SCHEMA:
            needs.append((USE_SCHEMA, kind, name))
    return needs


def check(ns: Namespace, principal: str, privilege: str, securable: Securable) -> None:
    """Raise PermissionDenied unless `principal` holds `privilege` on `securable` and the
    usage privileges (USE CATALOG, USE SCHEMA) on its containers. The denial names the
    first missing privilege and its securable. A container that does not exist is checked
    as `Namespace.named` stands it in (its existence is not revealed by the answer)."""
    for need, kind, name in reversed(usage_requirements(securable)):
        if need == privilege and kind == securable.type:
            continue
        container = ns.named(kind, name)
        if not holds(ns, principal, need, container):
            raise PermissionDenied(principal, need, container.key,
                                   f"needed to use {securable.key}")
    if not holds(ns, principal, privilege, securable):
        raise PermissionDenied(principal, privilege, securable.key)


def visible(ns: Namespace, principal: str, securable: Securable) -> bool:
    """Whether `principal` may see `securable`'s metadata (that it exists, its owner,
    comment, tags, grants), as Unity Catalog shows it: the metastore to everyone; anything
    else to a metastore admin, to a holder of BROWSE on its catalog, or to one holding USE
    CATALOG (and USE SCHEMA) on its containers and some privilege on it (its owner and a
    container's owner hold all, a grant on a container reaches it). Answered from the grants
    and owners alone, so a `Namespace.named` stand-in of a missing securable answers as an
    existing one with the same grants would."""
    if securable.type == METASTORE or is_admin(ns.state, identities(ns.state, principal)):
        return True
    chain = parents(securable.type, securable.name)
    catalog = next(name for kind, name in chain if kind == CATALOG)
    if holds(ns, principal, BROWSE, ns.named(CATALOG, catalog)):
        return True
    uses = all(holds(ns, principal, need, ns.named(kind, name))
               for need, kind, name in usage_requirements(securable)
               if (kind, name) != (securable.type, securable.name))
    return uses and bool(effective_privileges(ns, principal, securable))


def may_manage(ns: Namespace, principal: str, securable: Securable) -> bool:
    """Whether `principal` may grant, revoke, change the owner of `securable`: its owner, the
    owner of a container, a MANAGE holder (inherited too), a metastore admin. One question,
    since `effective_privileges` gives a metastore admin and the owner of the securable or of
    any container every applicable privilege, and MANAGE applies to every securable type."""
    return holds(ns, principal, MANAGE, securable)
