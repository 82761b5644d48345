"""Resources: where the lakehouse and landing zone are, and where MLflow keeps models; as
whom the pipeline acts (its service principal) and the policies applied before it runs."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import PrivateAttr

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.names import DOMAIN_TAG

if TYPE_CHECKING:  # MLflow is imported by the steps that use it, not when definitions load
    from mlflow import MlflowClient

POLICY_FILE = "policy.yaml"
"""A domain package's governance policy (see `lakehouse_ml.governance.policy`)."""
_APPLIED: set[tuple[str, str, str, int]] = set()
_GRANTED: set[tuple[str, str, str, str]] = set()
_APPLYING = threading.Lock()


class LakehouseResource(dg.ConfigurableResource):
    """Catalog access for assets; configured from `LAKEHOUSE_*` unless set explicitly.
    `principals`: per domain, the service principal its runs act as (a run of a job tagged
    `lakehouse_ml/domain`: every job a domain or its models produce); `principal`: what any
    other run acts as (empty: the current principal, `$LAKEHOUSE_PRINCIPAL` or the OS user);
    `policies`: policy files applied, idempotently and once per process and file version,
    before the first asset runs (by the current principal: the local user is the metastore
    admin); then, for the domains of `principals`, the grants their pipelines need, derived
    from their declarations (`governance.domain_grants`), once per process and derivation."""

    root: str
    env: str
    landing: str
    principal: str = ""
    principals: dict[str, str] = {}
    policies: list[str] = []
    _acting_as: str | None = PrivateAttr(default=None)  # set per run

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, principal: str = "",
                      principals: Mapping[str, str] | None = None,
                      policies: Sequence[str] = ()) -> LakehouseResource:
        settings = settings or Settings.from_env()
        return cls(root=settings.root, env=settings.env, landing=settings.landing,
                   principal=principal, principals=dict(principals or {}),
                   policies=list(policies))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        apply_policies(self.root, self.env, self.policies, list(self.principals.values()))
        apply_domain_grants(self.root, self.env, list(self.principals))
        run = context.dagster_run
        domain = run.tags.get(DOMAIN_TAG) if run is not None else None
        if domain in self.principals:
            check_reads(self.root, self.env, domain)
        self._acting_as = self.principals.get(domain or "", self.principal)

    def catalog(self, *, as_location: bool = False) -> Catalog:
        """The catalog acting as the run's domain's service principal (else `principal`);
        `as_location`: as whoever runs the code location (the current principal), for
        catalog-wide jobs no domain owns (maintenance of every table)."""
        acting = self._acting_as if self._acting_as is not None else self.principal
        return Catalog(self.root, self.env,
                       principal=None if as_location else acting or None)


def apply_policies(root: str, env: str, paths: Sequence[str], principals: Sequence[str] = ()
                   ) -> None:
    """Apply each policy file to the lakehouse unless this process already applied that
    version of it (a changed file is applied again). PolicyError naming the file and entry.
    `principals`: service principals created first where missing (the domains' pipelines: a
    domain's policy may grant on its own tables to another domain's pipeline, which no policy
    it may write declares)."""
    from lakehouse_ml.governance import Metastore
    from lakehouse_ml.governance.domain_grants import create_principals
    from lakehouse_ml.governance.policy import apply_policy

    with _APPLYING:
        create_principals(Metastore(root, env), principals)
        for path in paths:
            key = (root, env, str(path), Path(path).stat().st_mtime_ns)
            if key not in _APPLIED:
                apply_policy(path, metastore=Metastore(root, env))
                _APPLIED.add(key)


def apply_domain_grants(root: str, env: str, names: Sequence[str]) -> None:
    """Grant each declared domain of `names` the privileges its pipeline needs
    (`governance.domain_grants.apply_domain_grants`, by the current principal) unless this
    process already applied that derivation. A name no healthy package declares is skipped.
    When `names` are every declared domain and no package failed to load, the grants the
    engine applied for a domain no package declares any more are revoked (`retire`); while a
    package is broken they stay (it may be that domain's, and loads again once fixed)."""
    if not names:
        return
    from lakehouse_ml.domains import discover
    from lakehouse_ml.governance import Metastore, domain_grants

    discovery = discover()
    declared = [d for name, d in discovery.declared.items() if name in names]
    retire = not discovery.broken and len(declared) == len(discovery.declared)
    with _APPLYING:
        key = (root, env, str(retire), domain_grants.digest(declared, env))
        if key not in _GRANTED:
            domain_grants.apply_domain_grants(Metastore(root, env), declared, retire=retire)
            _GRANTED.add(key)


def check_reads(root: str, env: str, domain: str) -> None:
    """Fail closed before a run of `domain` touches anything when its pipeline lacks SELECT on
    a table of another declaration it reads (`domain_grants.denied_reads`): PermissionDenied
    naming the first such table, the pipeline and where to grant it; each denial is audited
    (action `checkPermission`, status 403). A domain no healthy package declares: nothing."""
    from lakehouse_ml.domains import discover
    from lakehouse_ml.governance import Metastore, domain_grants
    from lakehouse_ml.governance.metastore import audit

    discovery = discover()
    if (declared := discovery.declared.get(domain)) is None:
        return
    denied = domain_grants.denied_reads(Metastore(root, env), declared,
                                        discovery.declared.values())
    for denial in denied:
        audit(root, env, denial.principal, "checkPermission",
              {"securable": denial.securable}, denial)
    if denied:
        raise denied[0]


def _identities() -> tuple[str, dict[str, str], list[str]]:
    """(what a run no domain owns acts as, per domain the service principal its pipeline acts
    as, the policy files of the domains), from one `domains.discover`: see `domain_principals`
    and `pipeline_identity`."""
    from lakehouse_ml.domains import PROJECT_POLICY, discover
    from lakehouse_ml.governance.domain_grants import pipeline_principal

    declared = discover().declared.values()
    principals: dict[str, str] = {}
    policies = [str(PROJECT_POLICY)] if PROJECT_POLICY.is_file() else []
    for found in declared:  # a healthy package's policy keeps to its scope (policy_scope)
        path, name = Path(found.where) / POLICY_FILE, found.domain.name
        principals[name] = pipeline_principal(name)
        if path.is_file():
            policies.append(str(path))
    only = len(declared) == 1 and principals
    return (next(iter(principals.values())) if only else ""), principals, policies


def domain_principals() -> tuple[dict[str, str], list[str]]:
    """(per domain, the service principal its pipeline acts as; the policy files: the project
    policy first, `domains.PROJECT_POLICY`, then the domains'): every domain's pipeline acts
    as `<domain>-pipeline`, with the grants derived from its declarations
    (`governance.domain_grants`); a domain package may hold a `policy.yaml`, which must declare
    that service principal and may declare only its domain's scope
    (`governance.policy_scope`, checked by `domains.discover`). A domain without one gets the
    principal created with its derived grants (never the launching user, the admin). A broken
    domain package (see `domains.discover`; an overstepping policy makes its package broken)
    is left out: it runs nothing, so neither its principal nor its policy counts."""
    _, principals, policies = _identities()
    return principals, policies


def pipeline_identity() -> tuple[str, list[str]]:
    """(the service principal a run no domain owns acts as, the policy files of the domains):
    with one domain, its pipeline's principal (see `domain_principals`); with several, the
    current principal (''), while each domain's own runs act as its principal
    (`LakehouseResource.principals`)."""
    principal, _, policies = _identities()
    return principal, policies


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking server and model registry (`MLFLOW_TRACKING_URI`)."""

    tracking_uri: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MlflowResource:
        return cls(tracking_uri=(settings or Settings.from_env()).mlflow_tracking_uri)

    def client(self) -> MlflowClient:
        from lakehouse_ml.ml.registry import use_tracking

        return use_tracking(self.tracking_uri)


@dg.definitions
def resources() -> dg.Definitions:
    principal, principals, policies = _identities()  # one discovery of the domains
    lakehouse = LakehouseResource.from_settings(principal=principal, principals=principals,
                                                policies=policies)
    return dg.Definitions(resources={"lakehouse": lakehouse,
                                     "mlflow": MlflowResource.from_settings()})
