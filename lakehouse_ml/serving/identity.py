"""As whom `lakehouse-ml serve --domain <domain>` acts: the domain's serving principal
(`serve` without `--domain` acts for the only declared domain, or `--model`'s domain:
`cli.serving.serving_domain`; a server never acts as the admin who launched it).

Launched by a metastore admin (the local OS user is one by default), the server applies the
project policy (`domains.PROJECT_POLICY`) and the domain's `policy.yaml` if it has one (a
healthy package's keeps to the domain's scope: `governance.policy_scope`), then the grants
serving needs, derived from the domain's declarations (`governance.domain_grants.serving_plan`:
SELECT on its models' feature-lookup tables of its own domain and on `serving.tokens`, CREATE
TABLE on `serving` and its models' schemas, MODIFY on their inference logs, EXECUTE on its
models, BROWSE on the catalog), and acts as `<domain>-serving` (created where missing), never
as the admin. Launched by any other principal (`LAKEHOUSE_PRINCIPAL=churn-serving`), it
applies nothing and acts as that principal, with the grants it holds.
"""

from __future__ import annotations

from pathlib import Path

from lakehouse_ml.config import Settings

POLICY_FILE = "policy.yaml"


def serving_identity(settings: Settings, domain: str) -> str:
    """The principal serving the declared domain named `domain` acts as (see the module),
    its grants applied. KeyError for a domain no healthy package declares; PolicyError naming
    the file and entry for a malformed policy."""
    from lakehouse_ml.domains import PROJECT_POLICY, discover
    from lakehouse_ml.governance import Metastore, domain_grants
    from lakehouse_ml.governance import principals as p
    from lakehouse_ml.governance.policy import apply_policy

    domains = discover().declared
    declared = domains[domain]
    metastore = Metastore(settings.root, settings.env)
    launcher = p.current_principal()
    state = metastore.store.read()
    if not p.is_admin(state, p.identities(state, launcher)):
        return launcher
    domain_grants.create_principals(  # a policy may grant to another domain's pipeline
        metastore, [domain_grants.pipeline_principal(d) for d in domains])
    for policy in (PROJECT_POLICY, Path(declared.where) / POLICY_FILE):
        if policy.is_file():  # the project's first: the domain's may use its groups
            apply_policy(policy, metastore=metastore)
    return domain_grants.apply_serving_grants(metastore, declared)
