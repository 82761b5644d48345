"""Jobs and schedules of a domain (its daily refresh and weekly maintenance) and the
catalog-wide maintenance; every name comes from `names`."""

from collections.abc import Callable, Sequence
from datetime import timedelta

import dagster as dg

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.medallion.maintenance import (
    MIN_RETENTION_HOURS,
    catalog_plan,
    domain_plan,
    maintain,
)
from lakehouse_ml.medallion.spec import Domain

WEEKLY = "0 3 * * 0"
"""Sundays 03:00 UTC: each domain's own tables."""
CATALOG_WEEKLY = "0 5 * * 0"
"""Sundays 05:00 UTC: every table, after the domains' runs (two never compact one table)."""


class MaintenanceConfig(dg.Config):
    retention_hours: int = MIN_RETENTION_HOURS
    """Files unreferenced for longer than this are deleted (time travel stops there); below
    168 the run fails unless `enforce_retention_duration` is false."""
    enforce_retention_duration: bool = True
    """As in Delta: refuse a retention shorter than 7 days (concurrent readers need the files)."""


def daily_refresh(domain: Domain, partitions: dg.DailyPartitionsDefinition,
                  assets: Sequence[dg.AssetKey]) -> dg.Definitions:
    """`<domain>_daily_refresh` over the domain's own partitioned `assets`, and its schedule:
    02:00 UTC, yesterday's partition (today's exists too, for files landed today)."""
    job = dg.define_asset_job(
        names.daily_refresh(domain.name), selection=dg.AssetSelection.assets(*assets),
        partitions_def=partitions, tags={names.DOMAIN_TAG: domain.name},
        description=f"Landing → bronze → silver → gold → feature snapshots (and the online "
        f"store) for the {domain.name} domain, one day.",
    )

    @dg.schedule(name=names.schedule(job.name), job=job, cron_schedule="0 2 * * *",
                 execution_timezone="UTC", description="02:00 UTC: refresh yesterday's "
                 "partition.")
    def _yesterday(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
        if day < (partitions.get_first_partition_key() or day):
            return dg.SkipReason(f"{day} is before the first partition of {domain.name}")
        return dg.RunRequest(run_key=day, partition_key=day)

    return dg.Definitions(jobs=[job], schedules=[_yesterday])


def _maintenance_job(
    name: str, cron: str, description: str,
    plan: Callable[[Catalog], dict[str, tuple[str, ...]]], tags: dict[str, str],
    catalog_wide: bool = False,
) -> dg.Definitions:
    @dg.op(name=f"{name}_tables", description="OPTIMIZE each table (z-ordered by key where "
           "a domain declares one), then VACUUM it.")
    def maintain_tables(
        context: dg.OpExecutionContext, config: MaintenanceConfig, lakehouse: LakehouseResource
    ) -> None:
        catalog = lakehouse.catalog(as_location=catalog_wide)  # no domain's principal
        for report in maintain(catalog, plan(catalog), config.retention_hours,
                               enforce_retention_duration=config.enforce_retention_duration):
            context.log.info(str(report))

    @dg.job(name=name, description=description, tags=tags)
    def maintenance() -> None:
        maintain_tables()

    schedule = dg.ScheduleDefinition(
        job=maintenance, cron_schedule=cron, execution_timezone="UTC",
        name=names.schedule(name), description="Sundays, UTC.",
    )
    return dg.Definitions(jobs=[maintenance], schedules=[schedule])


def weekly_maintenance(domain: Domain, schemas: Sequence[str] = ()) -> dg.Definitions:
    """`<domain>_weekly_maintenance`: compaction, z-order and vacuum of the domain's tables
    and of every table in `schemas` (its models'); op `<domain>_weekly_maintenance_tables`."""
    return _maintenance_job(
        names.weekly_maintenance(domain.name), WEEKLY,
        f"Weekly compaction, z-ordering and vacuum of the {domain.name} domain's Delta tables.",
        lambda catalog: domain_plan(catalog, domain, schemas), {names.DOMAIN_TAG: domain.name},
    )


def catalog_maintenance(domains: Sequence[Domain]) -> dg.Definitions:
    """`catalog_maintenance`: every table of the catalog; op `catalog_maintenance_tables`."""
    return _maintenance_job(
        names.CATALOG_MAINTENANCE, CATALOG_WEEKLY,
        "Weekly compaction and vacuum of every table of the catalog (z-ordered where a domain "
        "declares keys), including tables no domain owns.",
        lambda catalog: catalog_plan(catalog, domains), {}, catalog_wide=True,
    )
