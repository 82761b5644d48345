"""Jobs and schedules of a domain: the daily refresh and the weekly table maintenance."""


import dagster as dg

from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.medallion.maintenance import MIN_RETENTION_HOURS, maintain
from lakehouse_ml.medallion.spec import Domain

DAILY = dg.AssetSelection.groups("bronze", "silver", "gold", "features")


class MaintenanceConfig(dg.Config):
    retention_hours: int = MIN_RETENTION_HOURS
    """Files unreferenced for longer than this are deleted (time travel stops there); below
    168 the run fails unless `enforce_retention_duration` is false."""
    enforce_retention_duration: bool = True
    """As in Delta: refuse a retention shorter than 7 days (concurrent readers need the files)."""


def daily_refresh(domain: Domain, partitions: dg.PartitionsDefinition) -> dg.Definitions:
    job = dg.define_asset_job(
        "daily_refresh", selection=DAILY, partitions_def=partitions,
        description=f"Landing → bronze → silver → gold → feature snapshots (and the online "
        f"store) for the {domain.name} domain, one day.",
    )
    schedule = dg.build_schedule_from_partitioned_job(
        job, hour_of_day=2, minute_of_hour=0, name="daily_refresh_schedule",
        description="02:00 UTC: refresh yesterday's partition.",
    )
    return dg.Definitions(jobs=[job], schedules=[schedule])


def weekly_maintenance(domain: Domain) -> dg.Definitions:
    @dg.op(description="OPTIMIZE every table of the catalog (z-ordered by key where the "
           "domain declares one), then VACUUM it.")
    def maintain_tables(
        context: dg.OpExecutionContext, config: MaintenanceConfig, lakehouse: LakehouseResource
    ) -> None:
        for report in maintain(lakehouse.catalog(), domain, config.retention_hours,
                               enforce_retention_duration=config.enforce_retention_duration):
            context.log.info(str(report))

    @dg.job(description="Weekly compaction, z-ordering and vacuum of the Delta tables.")
    def weekly_maintenance() -> None:
        maintain_tables()

    schedule = dg.ScheduleDefinition(
        job=weekly_maintenance, cron_schedule="0 3 * * 0", execution_timezone="UTC",
        name="weekly_maintenance_schedule", description="Sundays 03:00 UTC.",
    )
    return dg.Definitions(jobs=[weekly_maintenance], schedules=[schedule])
