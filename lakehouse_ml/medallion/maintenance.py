"""Table upkeep: compact small files, z-order (by key, or by event time), vacuum unreferenced
files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.medallion.moves import moves_table
from lakehouse_ml.medallion.spec import Domain, Source

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


def silver_clustering(source: Source) -> tuple[str, ...]:
    """What `source`'s silver table is Z-ordered by. Its event time alone when the source is
    `event_time_immutable`: the refine's MERGE then reads (and rewrites) only files of the
    batch's time range, and a Z-order by key would spread each day over every file unless keys
    follow time (a one-column Z-order is a sort, so each file holds a span of time; the
    compacted files keep the table's `delta.targetFileSize`, see `silver.silver_properties`).
    Its primary key otherwise: that MERGE matches on keys only."""
    return (source.event_time,) if source.event_time_immutable else source.primary_key


def zorder_columns(domain: Domain) -> dict[str, tuple[str, ...]]:
    """Silver tables are clustered as `silver_clustering` says, gold and feature tables by
    their key; bronze, quarantine and moves tables are only compacted."""
    plan: dict[str, tuple[str, ...]] = {}
    for source in domain.sources:
        for table in (source.bronze_table, source.rejects_table, source.manifest_table,
                      source.quarantine_table, moves_table(source)):
            plan[table] = ()
        plan[source.silver_table] = silver_clustering(source)
    for aggregate in domain.aggregates:
        plan[aggregate.table] = aggregate.primary_key
    for features in domain.feature_tables:
        plan[features.table] = (*features.entity_keys, features.timestamp_key)
    if domain.training_set is not None:
        plan[domain.training_set.name] = ()
    return plan


def domain_plan(catalog: Catalog, domain: Domain, schemas: Iterable[str] = ()
                ) -> dict[str, tuple[str, ...]]:
    """The domain's own tables (full names → z-order columns): those it declares, plus every
    table of `schemas` (its models' schemas: gates, alias changes, scores, inference logs)."""
    plan = {str(catalog.name(table)): columns for table, columns in zorder_columns(domain).items()
            if catalog.exists(table)}
    owned = set(schemas)
    plan |= {t.name: () for t in catalog.tables()
             if t.name.split(".")[1] in owned and t.name not in plan}
    return plan


def catalog_plan(catalog: Catalog, domains: Iterable[Domain]) -> dict[str, tuple[str, ...]]:
    """Every table of the catalog, z-ordered by key where a domain declares one: the tables no
    domain owns (serving tokens, shared logs) need compaction as much."""
    plan: dict[str, tuple[str, ...]] = {}
    for domain in domains:
        plan |= domain_plan(catalog, domain)
    return plan | {t.name: () for t in catalog.tables() if t.name not in plan}


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


def maintain(catalog: Catalog, plan: Mapping[str, tuple[str, ...]], retention_hours: int, *,
             enforce_retention_duration: bool = True) -> list[MaintenanceReport]:
    """OPTIMIZE each table of `plan` (full name → z-order columns; none: compaction only), then
    VACUUM it; see `domain_plan` and `catalog_plan`.

    `retention_hours`: files unreferenced for longer are vacuumed; below MIN_RETENTION_HOURS it
    raises RetentionTooShort before touching any table, unless forced with
    `enforce_retention_duration=False`."""
    check_retention(retention_hours, enforce_retention_duration)
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
