"""Every declared domain (`lakehouse_ml/domains/<name>/`: `DOMAIN` and its `MODELS`), each
with its own assets, jobs and schedules: a new domain package needs no file here."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.domain import domain_definitions
from lakehouse_ml.domains import declarations


@dg.definitions
def domains() -> dg.Definitions:
    declared = list(declarations().values())
    landing = Settings.from_env().landing
    folders = [source.name for domain, _ in declared for source in domain.sources]
    return dg.Definitions.merge(dg.Definitions(), *(
        domain_definitions(domain, models, landing=landing, landing_folders=folders)
        for domain, models in declared
    ))
