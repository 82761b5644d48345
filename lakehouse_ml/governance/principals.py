"""Principals: users, groups (nested, no cycles) and service principals; the caller's identity.

State shape: `principals[name] = {"type": "user" | "group" | "service_principal",
"members": [name, ...]}` (members only on groups). The metastore admins (`admins`) are users
known without being declared; so is the local OS user.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable

from lakehouse_ml.governance.store import State

USER, GROUP, SERVICE_PRINCIPAL = "user", "group", "service_principal"
PRINCIPAL_TYPES = (USER, GROUP, SERVICE_PRINCIPAL)
MAX_NAME = 255
ENV_VAR = "LAKEHOUSE_PRINCIPAL"


class UnknownPrincipal(LookupError):
    """A name that is no user, group or service principal of the metastore."""


class MembershipCycle(ValueError):
    """Adding the member would make a group (indirectly) a member of itself."""


def local_user() -> str:
    return getpass.getuser()


def current_principal(as_principal: str | None = None) -> str:
    """The caller: `as_principal` (`--as`), else `$LAKEHOUSE_PRINCIPAL`, else the OS user.
    ValueError for an invalid name, also for `$LAKEHOUSE_PRINCIPAL` set but blank: an identity
    given empty is refused, never taken for the OS user (a metastore admin by default)."""
    if as_principal:
        return validate_name(as_principal)
    if ENV_VAR in os.environ:
        return validate_name(os.environ[ENV_VAR])
    return validate_name(local_user())


def acting_type(state: State, name: str) -> str:
    """`principal_type` of a principal acting (the caller of a read, a write, a grant): a
    user or a service principal. UnknownPrincipal naming it if undeclared, or if it is a group:
    as in Unity Catalog, a group is granted privileges and holds members, but nobody acts as
    one (`--as data-eng` read and granted with the group's privileges)."""
    kind = principal_type(state, name)
    if kind == GROUP:
        raise UnknownPrincipal(f"principal {name!r} is a group: a group does not act (act as "
                               "a user or a service principal that is a member of it)")
    return kind


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValueError(f"invalid principal name {name!r}: 1 to {MAX_NAME} characters, "
                         "not blank")
    if any(c in name for c in "\n\r\t`"):
        raise ValueError(f"invalid principal name {name!r}: no backticks or control characters")
    return name


def principal_type(state: State, name: str) -> str:
    """Raises UnknownPrincipal naming `name` if it is not declared (admins are users)."""
    entry = state["principals"].get(name)
    if entry is not None:
        return entry["type"]
    if name in state["admins"]:
        return USER
    raise UnknownPrincipal(f"principal {name!r} does not exist (declare it as a user, group "
                           "or service principal first)")


def add_principal(state: State, name: str, kind: str) -> None:
    """Declare `name` as `kind`; idempotent; a name already of another type is refused."""
    validate_name(name)
    if kind not in PRINCIPAL_TYPES:
        raise ValueError(f"invalid principal type {kind!r} for {name!r}: one of "
                         f"{', '.join(PRINCIPAL_TYPES)}")
    entry = state["principals"].get(name)
    if entry is not None and entry["type"] != kind:
        raise ValueError(f"principal {name!r} is already a {entry['type']}, not a {kind}")
    if entry is None:
        state["principals"][name] = {"type": kind, "members": []} if kind == GROUP else {
            "type": kind}


def add_member(state: State, group: str, member: str) -> None:
    """Put `member` (any principal) into `group`; refuses a cycle naming both."""
    if principal_type(state, group) != GROUP:
        raise ValueError(f"principal {group!r} is not a group")
    principal_type(state, member)
    if member == group or member in groups_of(state, group):
        raise MembershipCycle(f"adding {member!r} to group {group!r} would make a cycle "
                              f"({group!r} is already a member of {member!r})")
    members = state["principals"][group]["members"]
    if member not in members:
        members.append(member)
        members.sort()


def remove_member(state: State, group: str, member: str) -> None:
    if principal_type(state, group) != GROUP:
        raise ValueError(f"principal {group!r} is not a group")
    members = state["principals"][group]["members"]
    if member in members:
        members.remove(member)


def groups_of(state: State, name: str) -> set[str]:
    """Every group `name` belongs to, directly or through nested groups."""
    parents: dict[str, set[str]] = {}
    for group, entry in state["principals"].items():
        for member in entry.get("members", ()):
            parents.setdefault(member, set()).add(group)
    found: set[str] = set()
    todo = list(parents.get(name, ()))
    while todo:
        group = todo.pop()
        if group not in found:
            found.add(group)
            todo.extend(parents.get(group, ()))
    return found


def identities(state: State, name: str) -> set[str]:
    """`name` and all its groups: the grantees whose grants apply to `name`."""
    return {name} | groups_of(state, name)


def is_admin(state: State, names: Iterable[str]) -> bool:
    return any(n in state["admins"] for n in names)
