"""Shared by the tests of the domains' pipeline principals (test_domain_grants,
test_domain_scope, test_progress_rows): a one-step job of a domain run as a pipeline process
runs it, and the denials the audit log holds for a principal."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.names import DOMAIN_TAG
from lakehouse_ml.defs.resources import LakehouseResource, domain_principals
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT


def domain_job(settings: Settings, domain: str,
               body: Callable[[LakehouseResource], None]) -> dg.JobDefinition:
    """A job of `domain` (its `DOMAIN_TAG`) whose one step calls `body` with the lakehouse
    resource a pipeline process builds (every domain's principal and policy files)."""
    principals, policies = domain_principals()
    resource = LakehouseResource.from_settings(settings, principals=principals,
                                               policies=policies)

    @dg.op
    def step(lakehouse: LakehouseResource) -> None:
        body(lakehouse)

    return dg.GraphDefinition(name=f"{domain}_job", node_defs=[step]).to_job(
        resource_defs={"lakehouse": resource}, tags={DOMAIN_TAG: domain})


def audited_denials(settings: Settings, principal: str) -> list[str]:
    """The error message of each denial (status 403) of `principal` in the audit log,
    flushed first, in the order written."""
    audit_log(settings.root, settings.env).flush()
    log = Catalog(settings.root, settings.env, governed=False).read(AUDIT)
    return log.filter(pl.col("user_identity").struct.field("email") == principal,
                      pl.col("response").struct.field("status_code") == 403
                      )["response"].struct.field("error_message").to_list()
