"""Audit of the catalog itself: inventory (owners, descriptions, tags), `pii` columns and their
masks, and grants.

Rules (severity: kind):
- a table or registered model without owner — high: `missing_owner`; whose owner is no
  declared principal — low: `unknown_owner` (nobody can act as it); without description —
  low: `missing_description`, for a table or model once it exists (one declared ahead of
  its creation, e.g. by a grant or policy naming it, is listed but gets its description when
  created, as in Unity Catalog, where a table exists from its CREATE TABLE ... COMMENT on and
  a model from its registration: a model exists once MLflow registers it, and while the
  registry cannot be read every declared model counts as existing); a model MLflow
  registered but the metastore does not declare —
  medium: `undeclared_model` (only its schema's grants govern it);
- a `pii`-tagged column without a column mask — critical: `unmasked_pii` when someone other
  than the table's owner and the metastore admins holds SELECT on it (on the table, its schema
  or catalog), high otherwise; the message names the column and those readers, never a value;
- `ALL PRIVILEGES` granted to a broad group — critical, `MODIFY` or `MANAGE` — high:
  `broad_grant`; a broad group is `account users`/`users` or one with at least
  `broad_members` members (nested groups counted through); a grant to a principal that does
  not exist (any more) — high: `orphaned_grant`; a privilege on a CATALOG beyond `USE
  CATALOG` and `BROWSE` held by anyone but the metastore admins — high: `catalog_grant` (it
  reaches every schema and table of every domain: stranger11c #1);
- a shared layer's schema (`policy_scope.SHARED_SCHEMAS`) owned by a service principal (a
  domain's pipeline or serving) — high: `shared_schema_owner` (its owner may grant on, and
  take over, every domain's tables in it; the project policy gives the layers to people);
- a grant a policy file declares and applied, revoked since (the policy does not give it
  back, see policy.py) — medium: `revoked_policy_grant`, naming principal, privilege,
  securable and the policy: the file and the grants disagree until one is changed; the same
  for a grant the engine derived from a domain's declarations (`engine:<domain>`,
  `domain_grants`), saying how to keep it revoked or restore it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.findings import CRITICAL, HIGH, LOW, MEDIUM, Finding
from lakehouse_ml.governance.policy import ENGINE, revoked_since_applied
from lakehouse_ml.governance.policy_scope import ON_CATALOG, SHARED_SCHEMAS
from lakehouse_ml.governance.principals import SERVICE_PRINCIPAL
from lakehouse_ml.governance.store import State

PII = "pii"
BROAD_GROUPS = ("account users", "users")
"""Unity Catalog's all-users groups (account and workspace level)."""
BROAD_MEMBERS = 50
RISKY = {pv.ALL_PRIVILEGES: CRITICAL, pv.MODIFY: HIGH, pv.MANAGE: HIGH}
READ = (pv.SELECT, pv.ALL_PRIVILEGES)


@dataclass(frozen=True)
class ModelEntry:
    """A registered model as MLflow knows it: full name, description and tags."""

    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InventoryRow:
    type: str
    """`TABLE`, `FEATURE TABLE` or `MODEL`."""
    name: str
    owner: str
    description: str
    tags: dict[str, str]
    pii_columns: tuple[str, ...] = ()


def _declared(state: State, name: str) -> bool:
    return name in state["principals"] or name in state["admins"]


def inventory(ns: s.Namespace, models: Sequence[ModelEntry], registry_read: bool = True
              ) -> tuple[list[InventoryRow], list[Finding]]:
    """Every table (registered or declared) and every registered model (declared in the
    metastore or registered in MLflow: `models`), with the findings about their metadata.
    `registry_read` False: `models` is not what the registry holds (it could not be read), so
    no declared model is taken for one declared ahead of its registration."""
    rows: list[InventoryRow] = []
    created = {t.name for t in ns.registered()}
    names = created | {
        k.split(" ", 1)[1] for k in ns.state["securables"] if k.startswith(f"{s.TABLE} ")}
    for name in sorted(names):
        table = ns.get(s.TABLE, name)
        pii = tuple(sorted(c for c, tags in table.column_tags.items() if PII in tags))
        rows.append(InventoryRow(table.kind or s.TABLE, name, table.owner, table.comment,
                                 dict(table.tags), pii))
    declared = {k.split(" ", 1)[1] for k in ns.state["securables"]
                if k.startswith(f"{s.MODEL} ")}
    registered = {m.name: m for m in models}
    findings = [Finding(MEDIUM, "undeclared_model", name, f"registered model {name} is "
                        "registered in MLflow but not declared in the metastore: only its "
                        "schema's grants govern who may load it")
                for name in sorted(set(registered) - declared)]
    for name in sorted(declared | set(registered)):
        found = ns.find(s.MODEL, name)
        mlflow = registered.get(name, ModelEntry(name))
        rows.append(InventoryRow(s.MODEL, name, found.owner if found else "",
                                 (found.comment if found else "") or mlflow.description,
                                 {**mlflow.tags, **(found.tags if found else {})}))
    for row in rows:
        what = f"{row.type.lower()} {row.name}"
        if not row.owner.strip():
            findings.append(Finding(HIGH, "missing_owner", row.name, f"{what} has no owner: "
                                    "nobody is accountable for it"))
        elif not _declared(ns.state, row.owner):
            findings.append(Finding(LOW, "unknown_owner", row.name, f"{what} is owned by "
                                    f"{row.owner!r}, which is no declared user, group or "
                                    "service principal"))
        ahead = (registry_read and row.name not in registered if row.type == s.MODEL
                 else row.name not in created)  # declared, not registered or created yet
        if not row.description.strip() and not ahead:
            findings.append(Finding(LOW, "missing_description", row.name,
                                    f"{what} has no description (comment)"))
    return rows, findings


def readers(ns: s.Namespace, table: s.Securable) -> list[str]:
    """Principals other than the table's owner and the metastore admins granted SELECT (or
    ALL PRIVILEGES) on the table, its schema or its catalog."""
    chain = {s.key(kind, name) for kind, name in s.parents(table.type, table.name)}
    return sorted({g["principal"] for g in ns.state["grants"]
                   if g["securable"] in chain and g["privilege"] in READ
                   and g["principal"] != table.owner and g["principal"] not in
                   ns.state["admins"]})


@dataclass(frozen=True)
class PiiColumn:
    table: str
    column: str
    masked: bool
    mask: str
    """The masking function's name ('' when unmasked)."""
    readers: tuple[str, ...]


def pii_columns(ns: s.Namespace, tables: Iterable[InventoryRow]
                ) -> tuple[list[PiiColumn], list[Finding]]:
    """Every `pii`-tagged column and whether a column mask covers it."""
    rows, findings = [], []
    for entry in tables:
        if entry.type == s.MODEL or not entry.pii_columns:
            continue
        table = ns.get(s.TABLE, entry.name)
        who = tuple(readers(ns, table))
        for column in entry.pii_columns:
            mask = table.column_masks.get(column)
            rows.append(PiiColumn(entry.name, column, mask is not None,
                                  mask["function"] if mask else "", who))
            if mask is not None:
                continue
            exposed = f"readable in clear by {', '.join(who)}" if who else (
                "readable in clear by its owner and the metastore admins only")
            findings.append(Finding(
                CRITICAL if who else HIGH, "unmasked_pii", f"{entry.name}.{column}",
                f"pii column {column} of {entry.name} has no column mask: {exposed}"))
    return rows, findings


def _members(state: State, group: str) -> set[str]:
    """Every user and service principal in `group`, through nested groups."""
    found, todo, seen = set(), [group], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for member in state["principals"].get(current, {}).get("members", ()):
            if state["principals"].get(member, {}).get("type") == "group":
                todo.append(member)
            else:
                found.add(member)
    return found


@dataclass(frozen=True)
class GrantRow:
    securable: str
    principal: str
    privilege: str
    risk: str
    """'' when none, else why the grant is risky."""


def grants(state: State, broad_members: int = BROAD_MEMBERS
           ) -> tuple[list[GrantRow], list[Finding]]:
    """Every grant, the risky ones flagged."""
    rows, findings = [], []
    for grant in state["grants"]:
        on, who, what = grant["securable"], grant["principal"], grant["privilege"]
        risk, severity, kind = "", "", ""
        if not _declared(state, who):
            risk, severity, kind = (f"{what} on {on} is held by {who!r}, a principal that "
                                    "does not exist (any more)", HIGH, "orphaned_grant")
        elif (on.startswith(f"{s.CATALOG} ") and what not in ON_CATALOG
              and who not in state["admins"]):
            risk, severity, kind = (f"{what} on {on} is held by {who!r}: a catalog-wide "
                                    "privilege beyond USE CATALOG and BROWSE reaches every "
                                    "schema and table of every domain; only the metastore "
                                    "admins hold one", HIGH, "catalog_grant")
        elif what in RISKY and state["principals"][who]["type"] == "group":
            size = len(_members(state, who))
            if who in BROAD_GROUPS or size >= broad_members:
                why = "all users" if who in BROAD_GROUPS else f"{size} members"
                risk, severity, kind = (f"{what} on {on} is granted to the broad group "
                                        f"{who!r} ({why})", RISKY[what], "broad_grant")
        rows.append(GrantRow(on, who, what, risk))
        if risk:
            findings.append(Finding(severity, kind, on.split(" ", 1)[1], risk))
    return rows, findings


def _drift(entry: dict[str, str]) -> str:
    """Why a grant applied and revoked since is missing, and how to settle it: a policy
    file's (remove it from the file) or the engine's (`engine:<domain>`, derived from the
    domain's declarations: stop declaring what needs it)."""
    what = f"{entry['privilege']} on {entry['securable']} to {entry['principal']!r}"
    at = f"applied at sha256 {entry['sha256'][:12]}"
    if not entry["policy"].startswith(ENGINE):
        return (f"{what} is declared by policy {entry['policy']} ({at}) but was revoked "
                "since: applying the policy does not grant it again; remove it from the "
                "policy, or GRANT it back")
    domain = entry["policy"].removeprefix(ENGINE)
    return (f"{what} is derived by the engine from domain {domain!r}'s declarations "
            f"({entry['policy']}, {at}) but was revoked since: the engine does not grant it "
            f"again, so the runs that need it are denied; to keep it revoked, remove from "
            f"domain {domain!r} the declaration that needs it; to restore it, GRANT it back "
            f"(a grant beyond the derived ones goes in the domain's policy.yaml)")


def policy_drift(state: State) -> list[Finding]:
    """A `revoked_policy_grant` finding per grant a policy declares, or the engine derives
    from a domain's declarations, but an admin revoked."""
    return [Finding(MEDIUM, "revoked_policy_grant", e["securable"].split(" ", 1)[1],
                    _drift(e)) for e in revoked_since_applied(state)]


def shared_schema_owners(state: State) -> list[Finding]:
    """A `shared_schema_owner` finding (high) per shared layer's schema (`SHARED_SCHEMAS`, in
    any catalog) owned by a service principal: a domain's pipeline (or serving) owning a
    layer every domain shares may grant on, or take, the other domains' tables in it."""
    findings = []
    for key, entry in sorted(state["securables"].items()):
        kind, _, name = key.partition(" ")
        owner = entry.get("owner", "")
        if (kind == s.SCHEMA and name.rsplit(".", 1)[-1] in SHARED_SCHEMAS
                and state["principals"].get(owner, {}).get("type") == SERVICE_PRINCIPAL):
            findings.append(Finding(
                HIGH, "shared_schema_owner", name,
                f"schema {name}, a layer every domain shares, is owned by the service "
                f"principal {owner!r}: it may grant on and take over every domain's tables "
                "in it; give it back to its owner in the project policy "
                "(lakehouse_ml/domains/policy.yaml)"))
    return findings
