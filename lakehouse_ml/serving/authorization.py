"""Who may use a served model: `EXECUTE` on the registered model, by Unity Catalog's rules, and
the audit record of every request.

A decision (principal, model) → allowed or the denial is computed from the governance state
(`governance.Metastore`, ~1 ms) and then kept until that state changes: each check costs one
`stat` (`Store.moved_past`: does the version file after the last one seen exist? a grant or
revoke commits the next version) and a dict lookup, microseconds. A revocation therefore
takes effect on the next request: every check that starts after the revoke has committed
denies (a bound of zero requests and zero seconds; tested while requests are being served);
`refresh` (run by the server's poller) also drops every decision.

A registered model the governance state does not declare (registered in MLflow but never
declared with `Metastore.create`) is governed as a model of its schema owned by the metastore
admins, as catalogs and schemas holding tables are: grants on its schema and catalog apply.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from lakehouse_ml.governance import Metastore, PermissionDenied, UnknownPrincipal
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.principals import acting_type

log = logging.getLogger(__name__)

SERVICE = "serverlessRealTimeInference"
"""The audit records' `service_name`, Databricks' for model serving."""
QUERY, LOGIN, LOAD = "queryEndpoint", "tokenLogin", "loadServedModel"
"""`action_name`s: a request to an endpoint (by an authenticated principal), a request whose
token was refused (`user_identity` then `UNAUTHENTICATED`), a model version loaded to serve."""
UNAUTHENTICATED = "unauthenticated"


def denial_message(denied: PermissionDenied, model: str) -> str:
    """What a 403 says: the principal, the privilege and the model, not which grant or
    container is missing."""
    return (f"permission denied: {denied.principal!r} does not have {pv.EXECUTE} on registered "
            f"model {model}")


class ModelAccess:
    """`EXECUTE` checks on registered models for the lakehouse at `root`, environment `env`,
    and the serving audit records."""

    def __init__(self, root: str, env: str) -> None:
        self.root, self.env = root, env
        self._metastore = Metastore(root, env)
        self._audit = audit_log(root, env)
        self._decisions: dict[tuple[str, str], PermissionDenied | None] = {}
        self._lock = threading.Lock()
        self._seen(self._metastore.store.version())

    def _seen(self, version: int) -> None:
        """Decisions are now of `version`; the path of the next one is kept, so a check
        costs one `stat` (`Store.moved_past` builds the path each time: 5x the cost)."""
        self._version = version
        self._next = os.fspath(self._metastore.store.path(version + 1))

    def refresh(self) -> None:
        """Forget every decision (the poller's bound on how long one is kept)."""
        with self._lock:
            self._decisions.clear()
            self._seen(self._metastore.store.version())

    def check(self, principal: str, model: str) -> PermissionDenied | None:
        """None if `principal` holds `EXECUTE` on registered model `model` (with `USE CATALOG`
        and `USE SCHEMA` on its containers), else the denial naming all three."""
        store, key = self._metastore.store, (principal, model)
        with self._lock:
            if os.path.exists(self._next):  # `store.moved_past(self._version)`
                self._decisions.clear()
                self._seen(store.version())
            version = self._version
            if key in self._decisions:
                return self._decisions[key]
        decision = self._decide(principal, model)  # from version `version` or a later one
        with self._lock:
            if self._version == version:  # a later one: dropped at the next check
                self._decisions[key] = decision
        return decision

    def _decide(self, principal: str, model: str) -> PermissionDenied | None:
        namespace = self._metastore.namespace()
        name = s.parse_name(s.MODEL, model, self.env)
        target = namespace.find(s.MODEL, name) or s.Securable(
            s.MODEL, name, owner=namespace.state["admins"][0])
        try:
            acting_type(namespace.state, principal)
            pv.check(namespace, principal, pv.EXECUTE, target)
        except PermissionDenied as denied:
            if denied.privilege == pv.EXECUTE and denied.securable == target.key:
                return denied
            return PermissionDenied(principal, pv.EXECUTE, target.key,
                                    f"it needs {denied.privilege} on {denied.securable}")
        except (UnknownPrincipal, s.UnknownSecurable) as error:
            return PermissionDenied(principal, pv.EXECUTE, target.key, str(error))
        return None

    def require(self, principal: str, model: str, version: int) -> None:
        """Raise PermissionDenied unless `principal` may execute the model (to load a version
        of it); audited either way."""
        denied = self.check(principal, model)
        self.record(principal, LOAD, 200 if denied is None else 403,
                    {"model": model, "version": str(version)},
                    None if denied is None else str(denied))
        if denied is not None:
            raise denied

    def flush(self) -> None:
        """Write the buffered audit records now (a server stopped by a signal never runs the
        writer's exit hook); a failure is logged, not raised (they stay buffered)."""
        try:
            audit_log(self.root, self.env).flush()
        except Exception:
            log.exception("audit log: buffered records could not be written at shutdown")

    def record(self, principal: str | None, action: str, status: int,
               params: Mapping[str, str], error: str | None = None) -> None:
        """One audit record (buffered: microseconds)."""
        self._audit.record(user=principal or UNAUTHENTICATED, service=SERVICE, action=action,
                           params=params, status_code=status, error=error, source="serving")
