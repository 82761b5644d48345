"""Every declared domain (`lakehouse_ml/domains/<name>/`: `DOMAIN`, its `MODELS`, `MONITORS`
and `RETRAINING`), each with its own assets, jobs, schedules and sensors: a new domain
package needs no file here."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.domain import domain_definitions
from lakehouse_ml.domains import declarations, monitoring_declarations


@dg.definitions
def domains() -> dg.Definitions:
    declared = list(declarations().values())
    landing = Settings.from_env().landing
    folders = [source.name for domain, _ in declared for source in domain.sources]
    monitoring = monitoring_declarations()
    return dg.Definitions.merge(dg.Definitions(), *(
        domain_definitions(domain, models, landing=landing, landing_folders=folders,
                           monitors=monitoring[domain.name][0],
                           retraining=monitoring[domain.name][1])
        for domain, models in declared
    ))
