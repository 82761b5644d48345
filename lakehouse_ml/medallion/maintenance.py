"""Table upkeep: compact small files, z-order by key, vacuum unreferenced files."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.medallion.spec import Domain

MIN_RETENTION_HOURS = 168
"""Delta's default `delta.deletedFileRetentionDuration` (7 days): a reader or writer that
started before a vacuum may still need files unreferenced for less than this."""


class RetentionTooShort(ValueError):
    """A vacuum retention below MIN_RETENTION_HOURS without `enforce_retention_duration=False`."""


@dataclass(frozen=True)
class MaintenanceReport:
    table: str
    zorder_by: tuple[str, ...]
    files_removed: int
    files_added: int
    vacuumed: int


def zorder_columns(domain: Domain) -> dict[str, tuple[str, ...]]:
    """Silver, gold and feature tables are clustered by their key; bronze is only compacted."""
    plan: dict[str, tuple[str, ...]] = {}
    for source in domain.sources:
        for table in (source.bronze_table, source.rejects_table, source.manifest_table,
                      source.quarantine_table):
            plan[table] = ()
        plan[source.silver_table] = source.primary_key
    for aggregate in domain.aggregates:
        plan[aggregate.table] = aggregate.primary_key
    for features in domain.feature_tables:
        plan[features.table] = (*features.entity_keys, features.timestamp_key)
    return plan


def check_retention(retention_hours: int, enforce_retention_duration: bool) -> None:
    """Raise RetentionTooShort for a negative retention, or one under MIN_RETENTION_HOURS
    unless the check is switched off (`enforce_retention_duration=False`, as in Delta)."""
    if retention_hours < 0:
        raise RetentionTooShort(f"retention_hours={retention_hours} is negative")
    if enforce_retention_duration and retention_hours < MIN_RETENTION_HOURS:
        raise RetentionTooShort(
            f"retention_hours={retention_hours} is below the {MIN_RETENTION_HOURS}-hour minimum: "
            "concurrent readers and writers may still need those files (set "
            "enforce_retention_duration=False to force it, as in Delta)"
        )


def maintain(catalog: Catalog, domain: Domain, retention_hours: int, *,
             enforce_retention_duration: bool = True) -> list[MaintenanceReport]:
    """Every table of the catalog, not only the domain's: the ML tables written by jobs and
    servers (an inference log gains a small file per flush) need compaction as much.

    `retention_hours`: files unreferenced for longer are vacuumed; below MIN_RETENTION_HOURS it
    raises RetentionTooShort before touching any table, unless forced with
    `enforce_retention_duration=False`."""
    check_retention(retention_hours, enforce_retention_duration)
    plan = {str(catalog.name(table)): columns for table, columns in zorder_columns(domain).items()
            if catalog.exists(table)}
    plan |= {t.name: () for t in catalog.tables() if t.name not in plan}
    reports = []
    for table, columns in plan.items():
        metrics = catalog.optimize(table, columns)
        vacuumed = catalog.vacuum(table, retention_hours,
                                  enforce_retention_duration=enforce_retention_duration)
        reports.append(MaintenanceReport(
            table, columns, metrics.get("numFilesRemoved", 0), metrics.get("numFilesAdded", 0),
            len(vacuumed),
        ))
    return reports
