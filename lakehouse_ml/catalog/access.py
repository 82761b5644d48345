"""Access control at the Catalog: privilege checks, row filters and column masks, audit.

One `Access` per lakehouse root and environment per process (`access(root, env)`). A check
that passed is remembered until the governance state changes: whether it changed is one
`stat` (does the version file after the last one seen exist?), so a governed read costs a
dictionary lookup and a stat, and a grant or revoke takes effect at the next read. A denial
is never remembered: `Metastore.check` decides it again and audits it (once per denial).
Tables registered by this process (`forget`) are looked up again too (their owner may change).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import polars as pl

from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_TABLE

if TYPE_CHECKING:
    from lakehouse_ml.governance.audit import AuditLog

READ, READ_WRITE = "READ", "READ_WRITE"
ACCESS_ACTION = "generateTemporaryTableCredential"
"""Databricks' audit action for reading or writing a table's data (`operation` READ or
READ_WRITE); one record per governed call, not per row."""
FILES_ACTION, WRITE_FILES = "generateTemporaryVolumeCredential", "WRITE_VOLUME"
"""Databricks' audit action and operation for writing files in a container (a volume); here
one record per allowed check of a container before its landed files are rewritten."""
CREATE_ON = {s.SCHEMA: pv.CREATE_TABLE, s.CATALOG: pv.CREATE_SCHEMA,
             s.METASTORE: pv.CREATE_CATALOG}
"""Creating a table in a container that does not exist yet needs to create the container."""
SEE = "(see)"
"""The remembered permission to see a table's metadata (not a privilege's name)."""


class Access:
    """Checks, securing and audit records of one lakehouse (`root`, `env`)."""

    def __init__(self, root: str, env: str) -> None:
        from lakehouse_ml.governance.metastore import SERVICE, Metastore  # imports the catalog

        self.metastore = Metastore(root, env)
        self._service = SERVICE
        self._audit: Callable[[str, str], AuditLog] | None = None
        self._lock = threading.Lock()
        self._version = self.metastore.store.version()
        self._allowed: set[tuple[str, str, str, str]] = set()
        self._tables: dict[str, s.Securable] = {}

    def _current(self) -> None:
        """Drop what was remembered if the governance state moved on (one stat)."""
        if self.metastore.store.moved_past(self._version):
            with self._lock:
                self._version = self.metastore.store.version()
                self._allowed = set()
                self._tables = {}

    def check(self, principal: str, privilege: str, kind: str, name: str) -> None:
        """PermissionDenied (audited) naming principal, privilege and securable unless
        `principal` holds `privilege` on `kind name` and USE on its containers."""
        self._current()
        key = (principal, privilege, kind, name)
        if key in self._allowed:
            return
        self.metastore.check(principal, privilege, kind, name)
        self._allowed.add(key)

    def check_create(self, principal: str, table: str) -> None:
        """CREATE TABLE on the table's schema; where the schema (or catalog) does not exist
        yet, the privilege to create it on the first container that does.

        USE CATALOG is decided first, from the grants alone (a catalog that does not exist is
        checked as its `Namespace.named` stand-in), as Unity Catalog checks it before it looks
        inside the catalog: a principal without it gets the same PermissionDenied (audited
        once, 403 `checkPermission` on the catalog) for a table in an existing schema, in a
        missing one and in a missing catalog, so the denial says nothing about what exists.
        Only to a principal with USE CATALOG: a schema that does not exist needs CREATE
        SCHEMA on the catalog (and a catalog that does not exist, CREATE CATALOG)."""
        chain = s.parents(s.TABLE, table)[1:]
        self.check_named(principal, pv.USE_CATALOG, s.CATALOG, dict(chain)[s.CATALOG])
        for kind, name in chain:
            try:
                self.check(principal, CREATE_ON[kind], kind, name)
                return
            except s.UnknownSecurable:
                continue

    def check_named(self, principal: str, privilege: str, kind: str, name: str) -> bool:
        """`check`, decided whether or not `kind name` exists: one not declared is checked as
        its stand-in (`Metastore.check_named`), so the denial (audited) is the same for an
        existing and a missing securable. Returns whether it is declared; False is said only
        to a principal who would hold `privilege` on it."""
        try:
            self.check(principal, privilege, kind, name)
        except s.UnknownSecurable:
            return self.metastore.check_named(principal, privilege, kind, name)
        return True

    def see_table(self, principal: str, table: str) -> None:
        """PermissionDenied naming BROWSE (audited once, 403 `getTable`) unless `principal` may
        see `table`'s metadata (`Metastore.describe`: BROWSE on its catalog, or USE CATALOG +
        USE SCHEMA and a privilege on it), decided from the grants whether or not it exists.
        Remembered as an allowed `check` is (a denial never is)."""
        self._current()
        key = (principal, SEE, s.TABLE, table)
        if key in self._allowed:
            return
        # UnknownSecurable: it may see it, but the table is not declared (on storage or not)
        with suppress(s.UnknownSecurable):
            self.metastore.describe(table, kind=s.TABLE, as_principal=principal)
        self._allowed.add(key)

    def check_within(self, principal: str, privilege: str, kind: str, name: str
                     ) -> tuple[str, str]:
        """`check` on `kind name`, or where it is not declared in the metastore (a model
        registered in MLflow only, a schema no table is in yet), on its closest declared
        container taking `privilege`: a privilege there reaches it by inheritance, so this
        asks for no less. Returns `(type, name)` of the securable checked.

        Fails closed: where neither it nor any container taking `privilege` is declared (a
        name in a catalog that does not exist; the metastore, which always does, takes only
        CREATE CATALOG and MANAGE), PermissionDenied naming principal, `privilege` and `kind
        name`, audited once (a 403 `checkPermission`), a metastore admin included: what
        nothing governs is no one's to use until it is declared. Every caller (loading and
        changing a model, rewriting landed files) wants that, so there is no permissive mode.
        ValueError if `privilege` does not apply to `kind`.

        The privilege on `kind name` itself is decided first, whether or not it is declared
        (`check_named`: one not declared is checked as its stand-in, from the grants on its
        containers): a principal without it gets the same denial, naming `kind name`, for a
        declared and an undeclared one (a model MLflow holds or not), so it learns nothing
        about what exists; which container decides, and the denial when none is declared,
        are said only to a principal who would hold it."""
        privilege = pv.canonical(privilege, kind)
        if self.check_named(principal, privilege, kind, name):
            return kind, name
        for container_kind, container in s.parents(kind, name)[1:]:
            if privilege not in pv.APPLICABLE[container_kind]:
                continue
            try:
                self.check(principal, privilege, container_kind, container)
                return container_kind, container
            except s.UnknownSecurable:
                continue
        from lakehouse_ml.governance.metastore import audit  # it imports the catalog

        denied = pv.PermissionDenied(principal, privilege, s.key(kind, name),
                                     "neither it nor a container taking it is declared")
        audit(self.metastore.root, self.metastore.env, principal, "checkPermission",
              {"securable": denied.securable}, denied)
        raise denied

    def is_admin(self, principal: str) -> bool:
        """Whether `principal` is a metastore admin (directly or through a group)."""
        from lakehouse_ml.governance import principals as p

        state = self.metastore.latest()
        return p.is_admin(state, p.identities(state, principal))

    def holds(self, principal: str, privilege: str, kind: str, name: str) -> bool:
        """Whether `principal` holds `privilege` on `kind name` (and USE on its containers),
        decided as `check_named` decides it (one not declared as its stand-in), but with no
        audit record: the caller audits the denial it makes of it. False for an undeclared
        principal or a name that is not a valid `kind` name. A True answer is remembered as
        an allowed `check` is."""
        from lakehouse_ml.governance import principals as p

        self._current()
        key = (principal, f"{privilege} (held)", kind, name)
        if key in self._allowed:
            return True
        ns = self.metastore.namespace()
        try:
            full = s.parse_name(kind, name, self.metastore.env)
            p.acting_type(ns.state, principal)
            pv.check(ns, principal, pv.canonical(privilege, kind), ns.named(kind, full))
        except (ValueError, p.UnknownPrincipal, pv.PermissionDenied):
            return False
        self._allowed.add(key)
        return True

    def visible(self, principal: str, kind: str, names: Collection[str]) -> set[str]:
        """Those of `names` (full names) the principal may see (`Metastore.visible`, no
        record); one that is not a valid full `kind` name is seen by no one."""
        valid = set()
        for name in names:
            with suppress(ValueError):
                if s.parse_name(kind, name, self.metastore.env) == name:
                    valid.add(name)
        return self.metastore.visible(kind, sorted(valid), as_principal=principal)

    def deny(self, denied: pv.PermissionDenied, params: Mapping[str, str]) -> None:
        """The audit record (403 `checkPermission`) of a denial decided by the caller."""
        from lakehouse_ml.governance.metastore import audit  # it imports the catalog

        audit(self.metastore.root, self.metastore.env, denied.principal, "checkPermission",
              params, denied)

    def forget(self, table: str) -> None:
        """`table`'s document was (re)written: look its owner and policy up again."""
        with self._lock:
            self._tables.pop(table, None)
            self._allowed = {k for k in self._allowed if k[3] != table}

    def table(self, name: str) -> s.Securable:
        self._current()
        found = self._tables.get(name)
        if found is None:
            found = self._tables[name] = self.metastore.securable(s.TABLE, name)
        return found

    def has_policy(self, table: str) -> bool:
        """Whether `table` has a row filter or a column mask."""
        securable = self.table(table)
        return securable.row_filter is not None or bool(securable.column_masks)

    def secure(self, frame: pl.LazyFrame, table: str, principal: str) -> pl.LazyFrame:
        """`frame` (all of `table`'s columns) as `principal` may see it: the row filter, then
        the column masks, before anything else the caller does with it (see
        `governance.row_column.secure`). A table with neither is returned as is, decided from
        the remembered state (no read of it)."""
        if not self.has_policy(table):
            return frame
        from lakehouse_ml.governance.row_column import secure

        return secure(frame, table, principal, self.metastore)

    def record(self, principal: str, table: str, operation: str | None, method: str,
               params: Mapping[str, Any] | None = None, action: str = ACCESS_ACTION,
               run_id: str | None = None) -> None:
        """One audit record of a governed read (`READ`) or write (`READ_WRITE`) in the run
        `run_id` (`operation` None: an action that has none, e.g. `setModelVersionTag`; the
        record has no `operation` then); reading the audit log itself is checked but not
        recorded (`audit show` would grow what it shows)."""
        if table.endswith(f".{AUDIT_TABLE}"):
            return
        if self._audit is None:
            from lakehouse_ml.governance.audit import audit_log  # it imports the catalog

            self._audit = audit_log
        self._audit(self.metastore.root, self.metastore.env).record(
            user=principal, service=self._service, action=action,
            params={"securable": table,
                    **({"operation": operation} if operation is not None else {}),
                    "method": method, **{k: str(v) for k, v in (params or {}).items()}},
            run_id=run_id)


_ACCESS: dict[tuple[str, str], Access] = {}
_ACCESS_LOCK = threading.Lock()


def access(root: str, env: str) -> Access:
    """The process's `Access` of the lakehouse at `root`, environment `env`."""
    key = (root.rstrip("/"), env)
    with _ACCESS_LOCK:
        if key not in _ACCESS:
            _ACCESS[key] = Access(*key)
        return _ACCESS[key]
