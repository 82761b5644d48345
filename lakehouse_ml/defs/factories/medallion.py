"""Bronze, silver and gold assets (with their checks) for every source and aggregate of a domain.

Each asset body is a call into the engine plus the metadata Dagster shows; all the logic lives
in `ingest/`, `quality/` and `medallion/`.
"""


from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from lakehouse_ml.defs.factories.metadata import (
    asset_key,
    lineage,
    markdown,
    per_partition,
    table_metadata,
)
from lakehouse_ml.defs.factories.names import write_pool
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.governance.lineage_columns import aggregate_columns, silver_columns
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.ingest.layout import (
    Stray,
    landed_batches,
    last_day,
    outside_layout,
    undeclared_folders,
)
from lakehouse_ml.medallion.gold import build_aggregate
from lakehouse_ml.medallion.moves import day_zones
from lakehouse_ml.medallion.progress import (
    mark_processed,
    pending,
    pending_refinement,
    skipped_note,
)
from lakehouse_ml.medallion.reconcile import reconcile
from lakehouse_ml.medallion.silver import duplicate_keys, refine
from lakehouse_ml.medallion.spec import Aggregate, Domain, Source
from lakehouse_ml.quality.expectations import run_suite

SINGLE_RUN = dg.BackfillPolicy.single_run()
GOLD_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=30), warn_window=timedelta(hours=26)
)
"""Gold must be refreshed daily (the 02:00 schedule) — warn after 26 h, fail after 30 h."""


def landed_days(landing: str, domain: Domain) -> list[str]:
    """The day folders (`YYYY-MM-DD`) landed for any source of `domain` up to `last_day`
    (tomorrow, UTC), sorted; later ones are `future_folders`."""
    through = last_day()
    return sorted({day for s in domain.sources for day in landed_batches(landing, s.name)
                   if day <= through})


def future_folders(landing: str, domain: Domain) -> list[str]:
    """The day folders of `domain`'s sources dated after `last_day` (`<source>/<day>/`,
    sorted): never planned nor ingested, reported by bronze's `landing_layout` check."""
    through = last_day()
    return sorted(f"{s.name}/{day}/" for s in domain.sources
                  for day in landed_batches(landing, s.name) if day > through)


def daily_partitions(domain: Domain, landing: str | None = None) -> dg.DailyPartitionsDefinition:
    """UTC days from the domain's first landed day under `landing` (its declared `start_date`
    while nothing has landed, or when `landing` is None) through today, or through the last
    landed day when that is later: a day's files can be ingested the day they land."""
    days = landed_days(landing, domain) if landing else []
    ahead = (date.fromisoformat(days[-1]) - datetime.now(UTC).date()).days if days else 0
    return dg.DailyPartitionsDefinition(
        start_date=days[0] if days else domain.start_date.isoformat(), timezone="UTC",
        end_offset=max(1, ahead + 1),
    )


def _check(name: str, key: dg.AssetKey, description: str, blocking: bool) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=key, description=description, blocking=blocking)


def _nothing_blocks(result: dg.MaterializeResult) -> bool:
    """No check of `result` failed with severity ERROR: its batches count as processed (one
    that did is processed again by the next run, which fails the same way)."""
    return all(c.passed or c.severity == dg.AssetCheckSeverity.WARN
               for c in result.check_results or ())


def _strays(strays: Sequence[Stray], undeclared: Sequence[Stray] = ()) -> dg.AssetCheckResult:
    """The `landing_layout` result of one source: its own `strays` decide it (a warning);
    `undeclared` (paths at the landing root that belong to no domain) are only listed, under
    `undeclared_folders`, and said in the description."""
    def table(paths: Sequence[Stray]) -> str:
        return markdown(pl.DataFrame([(s.relative, s.reason) for s in paths],
                                     schema=["path", "reason"], orient="row"), rows=50)

    listed = {"undeclared_folders": table(undeclared)} if undeclared else {}
    return dg.AssetCheckResult(
        check_name="landing_layout", passed=not strays, severity=dg.AssetCheckSeverity.WARN,
        metadata={"not_ingested": len(strays), "paths": table(strays), **listed},
        description=f"{len(undeclared)} path(s) at the landing root belong to no domain and "
        f"are not ingested: {', '.join(s.relative for s in undeclared[:10])} (listed under "
        "undeclared_folders; they do not decide this check)" if undeclared else None,
    )


def bronze_asset(
    source: Source, partitions: dg.PartitionsDefinition, domain_sources: Sequence[str]
) -> dg.AssetsDefinition:
    key = asset_key(source.bronze_table)

    @dg.asset(
        key=key, group_name="bronze", kinds={"delta", "polars"}, owners=[source.owner],
        description=f"Raw `{source.name}` records from `landing/{source.name}/<day>/`, each "
        "file ingested once per content (manifest: path, size, checksums, batch).",
        # pool `ingest_<source>` (not write_<table>): the op writes bronze.<source> and its
        # _rejects and _manifest tables, which no other op writes; the one pool covers all three
        partitions_def=partitions, backfill_policy=SINGLE_RUN, pool=f"ingest_{source.name}",
        check_specs=[
            _check("parse_rejects", key, "Lines that could not be parsed are kept in "
                   f"{source.rejects_table} with the reason.", blocking=False),
            _check("landing_layout", key, f"Every path under landing/{source.name}/ is "
                   "ingested or listed here with the reason (outside the layout, a link, "
                   "unreadable); paths at the landing root that no domain declares are listed "
                   "under undeclared_folders, without deciding the check.", blocking=False),
        ],
    )
    def _bronze(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        catalog = lakehouse.catalog()
        report = ingest(catalog, source, lakehouse.landing, context.partition_keys)
        # asked at run time: a time window's first partition may have begun since loading
        first_day = partitions.get_first_partition_key() or ""
        strays = [*report.refused, *outside_layout(
            lakehouse.landing, source.name, domain_sources, source.ignore, first_day,
            last_day())]
        undeclared = undeclared_folders(lakehouse.landing, domain_sources)
        yield dg.MaterializeResult(
            metadata=per_partition(context, table_metadata(
                catalog, source.bronze_table, files_ingested=report.files,
                files_relanded=report.relanded, files_already_ingested=report.skipped_files,
                files_ignored=report.ignored_files, lines=report.lines,
                records=report.records, parse_rejected=report.rejected,
            )),
            check_results=[dg.AssetCheckResult(
                check_name="parse_rejects", passed=report.rejected == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"rejected": report.rejected, "table": source.rejects_table,
                          "sample": markdown(report.rejects_sample.select("_record_id", "reason"))},
            ), _strays(strays, undeclared)],
        )

    return _bronze


def _unique_keys(source: Source, duplicates: pl.DataFrame) -> dg.AssetCheckResult:
    keys = list(source.primary_key)
    named = "; ".join(", ".join(f"{k}={row[k]!r}" for k in keys) + f" ({row['rows']} rows)"
                      for row in duplicates.head(10).iter_rows(named=True))
    return dg.AssetCheckResult(
        check_name="unique_keys", passed=duplicates.is_empty(),
        description=f"{source.silver_table} holds {duplicates.height} key(s) more than once: "
        f"{named}" if duplicates.height else None,
        metadata={"duplicate_keys": duplicates.height, "sample": markdown(duplicates)},
    )


def silver_asset(
    source: Source, partitions: dg.PartitionsDefinition, zones: Collection[str] = ()
) -> dg.AssetsDefinition:
    """`zones`: where a moved key's changed day is recorded (`medallion.moves.day_zones`)."""
    key = asset_key(source.silver_table)
    bronze = asset_key(source.bronze_table)
    column_lineage = lineage(silver_columns(source))

    @dg.asset(
        key=key, deps=[bronze], group_name="silver", kinds={"delta", "polars", "pandera"},
        owners=[source.owner], description=f"{source.description} Typed by the pandera "
        f"contract `{source.contract.__name__}`; refused rows in {source.quarantine_table}.",
        # also writes its _quarantine table (no other op does) and appends to pipeline.progress
        # (appends do not conflict): the silver table's pool covers them
        partitions_def=partitions, backfill_policy=SINGLE_RUN, pool=write_pool(source.silver_table),
        check_specs=[
            _check("contract", key, "Share of rows refused by the contract stays under "
                   f"{source.max_reject_fraction:.0%} (blocks from {source.min_rows_to_block} "
                   "rows read).", blocking=True),
            _check("conservation", key, "landed = parse rejects + quarantined + silver + "
                   "collapsed duplicates, per batch; nothing lost.", blocking=True),
            _check("unique_keys", key, "One silver row per primary key "
                   f"{list(source.primary_key)}; names the keys held twice.", blocking=True),
        ],
    )
    def _silver(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        catalog = lakehouse.catalog()
        todo = pending_refinement(catalog, source, context.partition_keys)
        report = refine(catalog, source, todo.batches, zones)
        balance = reconcile(catalog, source, context.partition_keys)
        duplicates = duplicate_keys(catalog, source, context.partition_keys)
        fraction = report.quarantined / report.read if report.read else 0.0
        unbalanced = balance.filter(~pl.col("balanced"))
        result = dg.MaterializeResult(
            metadata=per_partition(context, table_metadata(
                catalog, source.silver_table, column_lineage=column_lineage,
                rows_read=report.read, quarantined=report.quarantined,
                duplicates_collapsed=report.collapsed_in_run, inserted=report.inserted,
                updated=report.updated,
                batches_unchanged=len(set(context.partition_keys)) - len(todo.batches),
            )),
            check_results=[
                dg.AssetCheckResult(
                    check_name="contract", passed=fraction <= source.max_reject_fraction,
                    severity=dg.AssetCheckSeverity.ERROR
                    if report.read >= source.min_rows_to_block else dg.AssetCheckSeverity.WARN,
                    metadata={"quarantined": report.quarantined, "rows_read": report.read,
                              "reject_fraction": fraction, "table": source.quarantine_table,
                              "sample": markdown(report.quarantine_sample.select(
                                  "_record_id", pl.col("_reasons").list.join("; ")))},
                ),
                dg.AssetCheckResult(
                    check_name="conservation", passed=unbalanced.is_empty(),
                    description=skipped_note(catalog, source.silver_table, sorted(
                        set(unbalanced["batch_id"]) - set(todo.batches))),
                    metadata={"batches": balance.height,
                              "unbalanced_batches": unbalanced.height,
                              **{k: int(balance[k].sum()) for k in balance.columns[1:-1]},
                              "by_batch": markdown(unbalanced if unbalanced.height else balance)},
                ),
                _unique_keys(source, duplicates),
            ],
        )
        if _nothing_blocks(result):
            mark_processed(catalog, todo)
        yield result

    return _silver


def gold_asset(
    domain: Domain, aggregate: Aggregate, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    key = asset_key(aggregate.table)
    column_lineage = lineage(aggregate_columns(domain, aggregate))

    @dg.asset(
        key=key, deps=[asset_key(domain.source(s).silver_table) for s in aggregate.inputs],
        group_name="gold", kinds={"delta", "polars", "great_expectations"},
        owners=[aggregate.owner], description=aggregate.description,
        partitions_def=partitions, backfill_policy=SINGLE_RUN, freshness_policy=GOLD_FRESHNESS,
        pool=write_pool(aggregate.table),
        # no expectations declared: no check (one would pass without checking anything)
        check_specs=[_check("expectations", key, "Great Expectations suite on the days "
                            "written: " + ", ".join(e.kind for e in aggregate.expectations),
                            blocking=True)] if aggregate.expectations else [],
    )
    def _gold(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        catalog = lakehouse.catalog()
        todo = pending(catalog, domain, aggregate.table,
                       [domain.source(s).silver_table for s in aggregate.inputs],
                       context.partition_keys)
        report = build_aggregate(catalog, domain, aggregate, todo.batches)
        checks = []
        if aggregate.expectations and report.days:
            suite = run_suite(aggregate.name, report.frame, aggregate.expectations)
            checks.append(dg.AssetCheckResult(
                check_name="expectations", passed=suite.success,
                metadata={"evaluated": len(suite.results), "failed": len(suite.failed),
                          "results": suite.results, "days_validated": len(report.days)},
            ))
        elif aggregate.expectations:
            # nothing to validate is no pass; WARN: the day stays processed, and its last
            # evaluation (a passed one: a failed one leaves the day to be recomputed) stood
            checks.append(dg.AssetCheckResult(
                check_name="expectations", passed=False, severity=dg.AssetCheckSeverity.WARN,
                description="no day recomputed: nothing validated (each day's last "
                            "evaluation stands)", metadata={"days_validated": 0}))
        result = dg.MaterializeResult(
            metadata=per_partition(context, table_metadata(
                catalog, aggregate.table, column_lineage=column_lineage,
                days_recomputed=len(report.days), rows_written=report.rows_written,
                batches_unchanged=len(set(context.partition_keys)) - len(todo.batches),
            )),
            check_results=checks,
        )
        if _nothing_blocks(result):
            mark_processed(catalog, todo)
        yield result

    return _gold


def medallion_assets(
    domain: Domain, partitions: dg.PartitionsDefinition | None = None,
    landing_folders: Sequence[str] = (),
) -> list[dg.AssetsDefinition]:
    """Bronze and silver assets per source, gold per aggregate, all on `partitions` (default
    `daily_partitions(domain)`). `landing_folders`: the source folders of every domain of the
    code location (the `landing_layout` check reports none of them as strays, and lists the
    other paths at the landing root as belonging to no domain); default: this domain's
    sources."""
    partitions = partitions or daily_partitions(domain)
    folders = list(landing_folders) or [s.name for s in domain.sources]
    return [
        *(bronze_asset(s, partitions, folders) for s in domain.sources),
        *(silver_asset(s, partitions, day_zones(domain, s)) for s in domain.sources),
        *(gold_asset(domain, a, partitions) for a in domain.aggregates),
    ]
