"""Every declared domain (`lakehouse_ml/domains/<name>/`: `DOMAIN`, its `MODELS`, `MONITORS`
and `RETRAINING`), each with its own assets, jobs, schedules and sensors: a new domain
package needs no file here.

A broken package (see `lakehouse_ml.domains.discover`: it cannot be imported, or declares
something malformed or clashing) does not take the code location down: the healthy domains
load, the broken one is logged at load and shown by the sensor `broken_domain_packages`,
running from the start, whose every tick fails naming each package and why (Dagster UI:
Automation)."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.domain import domain_definitions
from lakehouse_ml.domains import BrokenPackage, DomainError, discover

BROKEN_SENSOR = "broken_domain_packages"


def broken_packages_sensor(broken: Sequence[BrokenPackage]) -> dg.SensorDefinition:
    """A sensor, running by default, whose ticks fail with a DomainError naming each of
    `broken` (its folder and why): Dagster shows the failure until the package is repaired."""
    listing = "; ".join(str(package) for package in broken)

    @dg.sensor(name=BROKEN_SENSOR, minimum_interval_seconds=300,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Domain packages left out of this code location: {listing}")
    def broken_domain_packages(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        raise DomainError(f"{len(broken)} domain package(s) left out of this code location "
                          f"(repair them and reload): {listing}")

    return broken_domain_packages


@dg.definitions
def domains() -> dg.Definitions:
    discovery = discover()
    landing = Settings.from_env().landing
    folders = [source.name for d in discovery.declared.values() for source in d.domain.sources]
    built = [domain_definitions(declared.domain, declared.models, landing=landing,
                                landing_folders=folders, monitors=declared.monitors,
                                retraining=declared.policies)
             for declared in discovery.declared.values()]
    if discovery.broken:
        built.append(dg.Definitions(sensors=[broken_packages_sensor(discovery.broken)]))
    return dg.Definitions.merge(dg.Definitions(), *built)
