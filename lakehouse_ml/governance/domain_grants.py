"""What a domain's pipeline may do, derived from its declarations: least privilege per domain.

Every domain's runs act as its own service principal `<domain>-pipeline` (`pipeline_principal`),
whether or not its package holds a `policy.yaml`. The engine derives the grants that principal
needs from what the domain declares (`needs`, `plan`) and applies them where the policy files
are applied (before a run's first asset, after the policies: `defs.resources`), in one
transaction (`apply_domain_grants`; a change is audited as the metastore's own calls are). They
are remembered as applied by `engine:<domain>` beside the policies' grants, so an admin's
REVOKE of one stands (a `revoked_policy_grant` finding) and one no longer derived is revoked:

- USE CATALOG on the environment's catalog; USE SCHEMA on each schema it reads or writes, and
  CREATE TABLE on each schema it writes (bronze, silver, gold, its model schemas, monitoring,
  pipeline: the schemas are created, owned by the admin applying, where missing);
- SELECT and MODIFY on each of its own tables: its sources' bronze, manifest, rejects, silver,
  quarantine and moves tables, its aggregates, feature tables and their state, its training
  set, its models' predictions, inference log, validation results and alias changes, its
  monitors' metric tables;
- no SELECT on a table of another domain it declares as an input (a feature table's input, a
  `FeatureLookup`, a training set's labels, batch scoring's keys and reads, a monitor's table,
  baseline or labels): declaring a table is not enough to be granted it. The owner grants it:
  the owning domain's `policy.yaml` (it may grant on its own tables) or the project policy.
  A read not granted is denied before the run's first asset (`denied_reads`, naming the
  table, the reading pipeline and where to grant it). USE SCHEMA on a shared layer it reads
  from (`policy_scope.SHARED_SCHEMAS`) is derived: that layer's owner is the admin;
- EXECUTE (load it) and MANAGE (register versions, move aliases) on each of its registered
  models;
- one exception: SELECT and MODIFY on `pipeline.progress`, the engine's bookkeeping table that
  every domain's pipeline keeps its rows in (which table processed which day).

Nothing schema-wide: the layers are shared by every domain, so a grant on a schema would reach
the other domains' tables. Ownership: this catalog records as a table's owner the `owner` its
declaration gives (a table document's `TableInfo.owner`, e.g. `team:ml`), or what governance
set, never its creator; so a table first created by an admin run or by another principal gives
its creator nothing, and its domain's pipeline reaches it by the grants above. A table or model
granted on before it exists is declared at once, owned by its schema's owner (as a policy's
grant declares it), so no other principal can create it first; a table of the domain recorded
as owned by another domain's pipeline (an owner any declaration may name), and a shared table
owned by any pipeline, is given to its schema's owner.
Whatever else a domain's pipeline needs on its own securables is granted in its `policy.yaml`;
on anything else, by the securable's owner (another domain's policy, the project policy).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from lakehouse_ml.domains import PROJECT_POLICY, Declared, table_claims
from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.governance import principals as p
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.metastore import CREATE_ACTION, UPDATE_ACTION, Metastore, audit
from lakehouse_ml.governance.policy import APPLIED, ENGINE, GrantKey
from lakehouse_ml.governance.policy_scope import POLICY_FILE, SHARED_SCHEMAS
from lakehouse_ml.governance.store import State
from lakehouse_ml.medallion.progress import TABLE as PROGRESS
from lakehouse_ml.monitoring.spec import BaselineTable, Monitor
from lakehouse_ml.serving.inference_log import table_name as inference_log
from lakehouse_ml.serving.tokens import TABLE as TOKENS

SUFFIX = "-pipeline"
SERVING_SUFFIX = "-serving"
SHARED_TABLES = (PROGRESS,)
"""Tables every domain's pipeline reads and writes: the engine's bookkeeping (one row per
table and day processed, whatever the domain)."""


def pipeline_principal(domain: str) -> str:
    """The service principal the runs of domain `domain` act as: `<domain>-pipeline`."""
    return f"{domain}{SUFFIX}"


def create_principals(metastore: Metastore, names: Iterable[str],
                      as_principal: str | None = None) -> None:
    """Declare each of `names` missing from the metastore as a service principal (the
    domains' pipelines, before the policies are applied: a domain's policy may grant on its
    own tables to another domain's pipeline, which no policy it may write declares). Nothing
    changes, nothing is audited, when all exist."""
    missing = set(names) - set(metastore.store.read()["principals"])
    for name in sorted(missing):
        metastore.add_principal(name, p.SERVICE_PRINCIPAL, as_principal=as_principal)


def serving_principal(domain: str) -> str:
    """The service principal `lakehouse-ml serve --domain <domain>` acts as:
    `<domain>-serving`."""
    return f"{domain}{SERVING_SUFFIX}"


@dataclass(frozen=True)
class Needs:
    """What a domain's pipeline touches (names `schema.table`, models `schema.model`)."""

    writes: frozenset[str]
    reads: frozenset[str]
    """Tables of other declarations it only reads (never one of `writes`)."""
    models: frozenset[str]
    selects: frozenset[str] = frozenset()
    """Of `reads`, those it is granted SELECT on (its own domain's, the token table)."""


def _monitor_reads(monitor: Monitor) -> Iterator[str]:
    yield monitor.table
    if isinstance(monitor.baseline, BaselineTable):
        yield monitor.baseline.table
    log = monitor.inference_log
    if log is not None and log.labels is not None:
        yield log.labels.table


def needs(declared: Declared) -> Needs:
    """The tables the domain's pipeline writes and reads and the models it registers, from
    its declarations (see the module's docstring)."""
    domain, models = declared.domain, declared.models
    named = {f"{m.schema}.{m.name}" for m in models}
    writes = {t for t in table_claims(domain, models) if not t.startswith("schema ")} - named
    writes |= {t for m in declared.monitors
               for t in (m.profile_metrics_table, m.drift_metrics_table)}
    writes |= set(SHARED_TABLES)
    reads = {t for f in domain.feature_tables for t in f.inputs}
    for training_set in (domain.training_set, *(m.training_set for m in models)):
        if training_set is None:
            continue
        reads.add(training_set.labels)
        reads |= {x.table_name for x in training_set.feature_lookups
                  if isinstance(x, FeatureLookup)}
    for model in models:
        if model.batch_scoring is not None:
            reads |= {model.batch_scoring.keys_table, *model.batch_scoring.reads}
    reads |= {t for m in declared.monitors for t in _monitor_reads(m)}
    return Needs(frozenset(writes), frozenset(reads - writes), frozenset(named))


def _schema(name: str) -> str:
    return name.rsplit(".", 1)[0]


def denied_reads(metastore: Metastore, declared: Declared, domains: Iterable[Declared]
                 ) -> list[pv.PermissionDenied]:
    """One denial per table of another declaration the domain's pipeline reads (`needs`'
    reads) without holding SELECT on it (with USE on its containers), sorted by table: each
    names the table, the reading pipeline and where to grant it (the owning domain's
    `policy.yaml`, found among `domains`, else the project policy). Nothing is audited here."""
    name = declared.domain.name
    principal = pipeline_principal(name)
    owners = {table: d for d in domains if d.domain.name != name
              for table in table_claims(d.domain, d.models)}
    ns = metastore.namespace()
    denied = []
    for table in sorted(needs(declared).reads):
        full = s.parse_name(s.TABLE, table, metastore.env)
        target = ns.named(s.TABLE, full)
        try:
            pv.check(ns, principal, pv.SELECT, target)
        except pv.PermissionDenied:
            owner = owners.get(_short(table))
            where = (f"domain {owner.domain.name!r}'s {Path(owner.where) / POLICY_FILE}"
                     if owner is not None else f"the project policy {PROJECT_POLICY}")
            use = ("" if _schema(_short(table)) in SHARED_SCHEMAS else
                   f", with USE SCHEMA on SCHEMA {_schema(_short(table))}")
            denied.append(pv.PermissionDenied(principal, pv.SELECT, target.key, (
                f"domain {name!r} declares it as an input, but a read of a table it does "
                "not own is granted by the table's owner, never derived from a declaration: "
                f"grant it in {where}: {{securable: TABLE {_short(table)}, to: {principal}, "
                f"privileges: [SELECT]}}{use}")))
    return denied


@dataclass(frozen=True)
class Plan:
    """What is made true for one domain's pipeline (full names, `catalog.schema[.name]`)."""

    domain: str
    """Whose declarations it derives from: its grants are remembered as applied by
    `engine:<domain>`."""
    principal: str
    schemas: tuple[str, ...]
    """Schemas it reads or writes, created (owned by the admin applying) where missing."""
    declared: tuple[tuple[str, str], ...]
    """(TABLE or MODEL, name) granted on: declared where missing, owned by its schema's owner;
    a table of the domain owned by another domain's pipeline is given to that owner too."""
    grants: tuple[GrantKey, ...]
    shared: frozenset[str]
    """Its tables every domain's pipeline writes (`SHARED_TABLES`)."""


def serving_needs(declared: Declared) -> Needs:
    """What `lakehouse-ml serve --domain <domain>` touches (names `schema.table`, models
    `schema.model`): it writes its models' inference logs (`<schema>.inference_log`), reads
    their training sets' `FeatureLookup` tables and the token table (`serving.tokens`), and
    loads its models."""
    models = declared.models
    writes = {inference_log(m.schema) for m in models}
    reads = {x.table_name for m in models for x in m.training_set.feature_lookups
             if isinstance(x, FeatureLookup)} | {TOKENS}
    own = set(table_claims(declared.domain, models)) | {TOKENS}
    return Needs(frozenset(writes), frozenset(reads - writes),
                 frozenset(f"{m.schema}.{m.name}" for m in models),
                 frozenset({_short(t) for t in reads} & own))


def _short(table: str) -> str:
    """`schema.table` of a `schema.table` or `catalog.schema.table` name."""
    return ".".join(table.split(".")[-2:])


def plan(declared: Declared, env: str) -> Plan:
    """The principal, schemas, securables and grants `needs` asks for (see the module)."""
    need = needs(declared)
    return _plan(declared.domain.name, pipeline_principal(declared.domain.name), need, env,
                 (pv.SELECT, pv.MODIFY), (pv.EXECUTE, pv.MANAGE), SHARED_TABLES)


def serving_plan(declared: Declared, env: str) -> Plan:
    """What `serving_needs` asks for `<domain>-serving`: USE CATALOG and BROWSE on the catalog
    (it hashes every table's `pii` columns in the bodies it logs, and lists only the tables
    its principal may see), USE SCHEMA on each schema it reads or writes, CREATE TABLE on its
    models' schemas (it creates their inference log) and on `serving` (it declares the token
    table at startup, CREATE TABLE IF NOT EXISTS, which Unity Catalog checks on the schema
    even when the table exists), MODIFY on each inference log, SELECT on the tables it reads,
    EXECUTE on its models; no SELECT on another domain's lookup table (its owner grants it)."""
    name = declared.domain.name
    need = serving_needs(declared)
    one = _plan(name, serving_principal(name), need, env, (pv.MODIFY,), (pv.EXECUTE,), (),
                creates={_schema(s.parse_name(s.TABLE, TOKENS, env))})
    return replace(one, grants=((s.key(s.CATALOG, env), one.principal, pv.BROWSE),
                                *one.grants))


def _plan(domain: str, principal: str, need: Needs, env: str, on_writes: tuple[str, ...],
          on_models: tuple[str, ...], shared: tuple[str, ...], creates: set[str] | None = None
          ) -> Plan:
    """`need` as grants to `principal`: `on_writes` on each table it writes, SELECT on each
    of `need.selects`, `on_models` on each model, USE on the catalog, on the schemas it writes
    or selects from and on the shared layers it reads from, CREATE TABLE on the schemas it
    writes and on `creates` (full schema names)."""

    def full(kind: str, name: str) -> str:
        return s.parse_name(kind, name, env)

    writes = {full(s.TABLE, t) for t in need.writes}
    reads = {full(s.TABLE, t) for t in need.selects}
    layers = {_schema(full(s.TABLE, t)) for t in need.reads} & {
        full(s.SCHEMA, x) for x in SHARED_SCHEMAS}
    models = {full(s.MODEL, m) for m in need.models}
    written = {_schema(x) for x in writes | models} | (creates or set())
    schemas = sorted(written | {_schema(x) for x in reads} | layers)
    grants: list[GrantKey] = [(s.key(s.CATALOG, env), principal, pv.USE_CATALOG)]
    for schema in schemas:
        grants.append((s.key(s.SCHEMA, schema), principal, pv.USE_SCHEMA))
        if schema in written:
            grants.append((s.key(s.SCHEMA, schema), principal, pv.CREATE_TABLE))
    grants += [(s.key(s.TABLE, t), principal, privilege) for t in sorted(writes)
               for privilege in on_writes]
    grants += [(s.key(s.TABLE, t), principal, pv.SELECT) for t in sorted(reads)]
    grants += [(s.key(s.MODEL, m), principal, privilege) for m in sorted(models)
               for privilege in on_models]
    securables = [(s.TABLE, t) for t in sorted(writes | reads)] + [
        (s.MODEL, m) for m in sorted(models)]
    return Plan(domain, principal, tuple(schemas), tuple(securables), tuple(grants),
                frozenset(full(s.TABLE, t) for t in shared))


Record = tuple[str, dict[str, str]]
"""An audit record of a change: (action, request params)."""


def _securables(state: State, ns: s.Namespace, one: Plan, pipelines: set[str], who: str
                ) -> Iterator[Record]:
    """Create its principal and missing schemas; declare its missing tables and models; give
    a table of its own owned by another domain's pipeline (a shared one: by any) to its
    schema's owner. Every table a pipeline's plan declares is one it writes; a serving plan
    is applied alone, so no other pipeline's table is taken back for it."""
    if one.principal not in state["principals"]:
        p.add_principal(state, one.principal, p.SERVICE_PRINCIPAL)
        yield "createPrincipal", {"principal": one.principal, "type": p.SERVICE_PRINCIPAL}
    for schema in one.schemas:
        if ns.find(s.SCHEMA, schema) is None:
            s.stored(state, s.SCHEMA, schema)["owner"] = who
            yield CREATE_ACTION[s.SCHEMA], {"securable": s.key(s.SCHEMA, schema)}
    for kind, name in one.declared:
        found = ns.find(kind, name)
        owner = ns.get(s.SCHEMA, _schema(name)).owner
        if found is None:
            s.stored(state, kind, name)["owner"] = owner
            yield CREATE_ACTION[kind], {"securable": s.key(kind, name)}
        elif kind == s.TABLE and found.owner in pipelines - (
                set() if name in one.shared else {one.principal}):
            s.assign(state, found, owner=owner)
            yield UPDATE_ACTION[kind], {"securable": s.key(kind, name), "owner": owner}


def _key(entry: dict[str, str]) -> GrantKey:
    return entry["securable"], entry["principal"], entry["privilege"]


def _revoked(state: State, gone: set[GrantKey], add: list[GrantKey] | None = None
             ) -> Iterator[Record]:
    """Take `gone` out of the grants and of what was applied, put `add` in (both sorted, as
    the metastore keeps them); one record per securable and principal changed."""
    held = {_key(g) for g in state["grants"]}
    state["grants"][:] = [g for g in state["grants"] if _key(g) not in gone] + [
        {"securable": k[0], "principal": k[1], "privilege": k[2]} for k in add or []]
    state[APPLIED] = [e for e in state[APPLIED] if _key(e) not in gone]
    state["grants"].sort(key=_key)
    for changed, verb in ((add or [], "add"), (sorted(gone & held), "remove")):
        by: dict[tuple[str, str], list[str]] = {}
        for securable, principal, privilege in changed:
            by.setdefault((securable, principal), []).append(privilege)
        for (securable, principal), privileges in sorted(by.items()):
            yield "updatePermissions", {"securable": securable, "principal": principal,
                                        verb: ",".join(sorted(privileges))}


def _grants(state: State, one: Plan, sha256: str) -> Iterator[Record]:
    """Grant what the plan asks for unless held or revoked since a policy or the engine
    applied it; remember what is held as applied by `engine:<domain>`; revoke (and forget)
    what `engine:<domain>` applied to the plan's principal and no longer asks for."""
    source = f"{ENGINE}{one.domain}"
    held = {_key(g) for g in state["grants"]}
    applied = state.setdefault(APPLIED, [])
    known = {_key(e) for e in applied}
    wanted = set(one.grants)
    new = [k for k in one.grants if k not in held and k not in known]
    gone = {_key(e) for e in applied if e["policy"] == source
            and e["principal"] == one.principal and _key(e) not in wanted}
    applied += [{"securable": k[0], "principal": k[1], "privilege": k[2], "policy": source,
                 "sha256": sha256} for k in one.grants
                if k not in known and (k in held or k in new)]
    yield from _revoked(state, gone, new)
    state[APPLIED].sort(key=_key)


def _retired(state: State, domains: set[str]) -> Iterator[Record]:
    """Revoke and forget every grant an `engine:<d>` applied for a domain `d` not in
    `domains` (its package removed)."""
    gone = {_key(e) for e in state.get(APPLIED, []) if e["policy"].startswith(ENGINE)
            and e["policy"].removeprefix(ENGINE) not in domains}
    if gone:
        yield from _revoked(state, gone)


def apply_domain_grants(metastore: Metastore, domains: Iterable[Declared],
                        as_principal: str | None = None, *, retire: bool = False) -> None:
    """Make each domain's pipeline `plan` true in one transaction, by `as_principal` (default
    the current principal), who must be a metastore admin (PermissionDenied, audited,
    otherwise); one audit record per change, as the metastore's own calls write them.
    Idempotent: a second apply commits no version and writes no record. A grant an admin
    revoked since the engine (or a policy) applied it is not given back (a
    `revoked_policy_grant` finding); one no longer derived (a declaration removed) is revoked.
    `retire`: `domains` are every domain there is (no package failed to load), so the grants
    `engine:<d>` applied for a domain `d` not among them (its package removed) are revoked
    too, its serving's included."""
    declared = list(domains)
    _apply(metastore, [plan(d, metastore.env) for d in declared], as_principal,
           {d.domain.name for d in declared} if retire else None)


def apply_serving_grants(metastore: Metastore, declared: Declared,
                         as_principal: str | None = None) -> str:
    """Make the domain's `serving_plan` true, as `apply_domain_grants` does (remembered as
    applied by `engine:<domain>` too); the principal serving acts as (`<domain>-serving`)."""
    one = serving_plan(declared, metastore.env)
    _apply(metastore, [one], as_principal, None)
    return one.principal


def _apply(metastore: Metastore, plans: list[Plan], as_principal: str | None,
           retire_all_but: set[str] | None) -> None:
    who = p.current_principal(as_principal)
    pipelines = {one.principal for one in plans}
    records: list[Record] = []

    def change(state: State) -> None:
        records.clear()  # a retried transaction starts again
        if not p.is_admin(state, p.identities(state, who)):
            raise pv.PermissionDenied(who, "metastore admin", "METASTORE metastore")
        ns = metastore.namespace(state)
        for one in plans:
            records.extend(_securables(state, ns, one, pipelines, who))
            records.extend(_grants(state, one, _digest([one])))
        if retire_all_but is not None:
            records.extend(_retired(state, retire_all_but))

    try:
        _, changed = metastore.store.commit(change)
    except pv.PermissionDenied as denied:
        audit(metastore.root, metastore.env, who, "updatePermissions",
              {"securable": "METASTORE metastore"}, denied)
        raise
    if changed:
        for action, params in records:
            audit(metastore.root, metastore.env, who, action, params)


def _digest(plans: list[Plan]) -> str:
    return hashlib.sha256(repr(plans).encode()).hexdigest()


def digest(domains: Iterable[Declared], env: str) -> str:
    """The sha256 of the plans of `domains` (what `apply_domain_grants` makes true; a grant
    the engine applied is remembered with the sha256 of its domain's plan)."""
    return _digest([plan(d, env) for d in domains])
