"""Which landed batches each table has already processed, so a re-run with nothing new writes
nothing.

A batch (a landing day of one source) is marked by the time its latest content was ingested
(the manifest's `ingested_at`, the latest of its files). A table downstream of bronze records,
in `pipeline.progress`, the marks it caught up to; it has work only for batches whose mark in
every input it reads is later than its own, and only once every input covering that source has
processed the batch. Bronze inputs take their marks from the manifest; silver, gold and feature
tables from their own rows in `pipeline.progress`. An input the domain does not declare cannot
be tracked, so a table reading one processes every batch it is asked to (it fails closed), and
so does a table that does not exist (e.g. dropped by hand), whatever it recorded.

A recorded mark is trusted only where the data can have produced it, so that no row (forged,
or written by a clock gone wrong) leaves a day stale for good: a mark later than now (plus
`CLOCK_SKEW`) is ignored wherever it is read, and a table's mark later than the mark its inputs
hold now for the same batch (it records its inputs' marks, which only grow) is ignored when
deciding what the table has to do, so the batch is processed again. Each ignored row is logged
as a warning naming the table, source, batch and mark (delete it from `pipeline.progress` to
stop the warning). The Catalog lets a pipeline write only the rows of tables it may MODIFY
(`catalog.owned_rows`), so such a row comes from the table's own domain or an admin.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.catalog.owned_rows import PROGRESS
from lakehouse_ml.ingest.bronze import create_once
from lakehouse_ml.medallion.spec import Domain, Source

TABLE = PROGRESS
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a recorded mark may be (clocks of the hosts that ingest and refresh
differ) and still be trusted."""
log = logging.getLogger(__name__)
_UTC = pl.Datetime("us", "UTC")
MARKS = pl.Schema({"source": pl.String, "batch_id": pl.String, "ingested_at": _UTC})
PROGRESS = pl.Schema({"table": pl.String, **MARKS, "processed_at": _UTC})


@dataclass(frozen=True)
class Pending:
    """What `table` has to process: `batches`, catching up to `marks` once they are done."""

    table: str
    batches: list[str]
    marks: pl.DataFrame
    """source, batch_id, ingested_at: the inputs' marks of `batches` (empty if untracked)."""


def feeding_sources(domain: Domain, table: str) -> set[str] | None:
    """The names of the sources whose batches flow into `table` (`schema.table`): its own
    source for a bronze or silver table, an aggregate's inputs, and for a feature table those
    of every table it reads. None when the domain does not declare `table` or one it reads."""
    for source in domain.sources:
        if table in (source.bronze_table, source.silver_table):
            return {source.name}
    for aggregate in domain.aggregates:
        if table == aggregate.table:
            return set(aggregate.inputs)
    for spec in domain.feature_tables:
        if table == spec.table:
            covered = [feeding_sources(domain, name) for name in spec.inputs]
            return None if None in covered else set().union(*covered)
    return None


def current_sources(domain: Domain, table: str) -> set[str]:
    """The names of the sources whose silver table (each key's current version) `table`
    (`schema.table`) reads, directly or through the aggregates it reads: those whose
    `Source.effective_dates` can move its rows to other days. A table reading a source's
    versions (its bronze table, as of each snapshot) is not one of them."""
    found: set[str] = set()
    for spec in domain.feature_tables:
        if table == spec.table:
            for name in spec.inputs:
                found |= current_sources(domain, name)
    for aggregate in domain.aggregates:
        if table == aggregate.table:
            found |= set(aggregate.inputs)
    found |= {source.name for source in domain.sources if table == source.silver_table}
    return found


def _landed_marks(catalog: Catalog, source: Source, batches: Sequence[str]) -> pl.LazyFrame:
    """Marks of `source`'s bronze table: per batch, when its latest content was ingested (a
    re-landed file's new content is ingested later than anything before it)."""
    if not catalog.exists(source.manifest_table):
        return pl.LazyFrame(schema=MARKS)
    return (catalog.scan(source.manifest_table)
            .filter(pl.col("batch_id").is_in(batches))
            .group_by("batch_id").agg(pl.col("ingested_at").max())
            .select(pl.lit(source.name).alias("source"), "batch_id", "ingested_at"))


def _landed(catalog: Catalog, domain: Domain, table: str, batches: Sequence[str]
            ) -> pl.LazyFrame | None:
    for source in domain.sources:
        if table == source.bronze_table:
            return _landed_marks(catalog, source, batches)
    return None


def _ignored(table: str, rows: pl.DataFrame, why: str) -> None:
    """Log a warning for each of `table`'s recorded marks `rows` (MARKS) not trusted."""
    for source, batch, mark in rows.select(MARKS.names()).iter_rows():
        log.warning("%s: ignored its mark in %s for source %s, batch %s: ingested_at %s is %s "
                    "(the batch is processed as if it were not recorded; delete the row to "
                    "stop this warning)", table, TABLE, source, batch, mark.isoformat(), why)


def _recorded(catalog: Catalog, table: str, batches: Sequence[str]) -> pl.DataFrame:
    """Every mark `table` recorded for `batches` (MARKS), less those later than now plus
    `CLOCK_SKEW` (logged as ignored)."""
    if not catalog.exists(TABLE):
        return pl.DataFrame(schema=MARKS)
    rows = (catalog.scan(TABLE)
            .filter(pl.col("table") == table, pl.col("batch_id").is_in(batches))
            .select(MARKS.names()).collect())
    future = pl.col("ingested_at") > datetime.now(UTC) + CLOCK_SKEW
    _ignored(table, rows.filter(future), f"later than now (+{CLOCK_SKEW})")
    return rows.filter(~future)


def skipped_note(catalog: Catalog, table: str, batches: Sequence[str]) -> str | None:
    """For `batches` a check of `table` found wrong though this run skipped them as already
    processed: one sentence naming the `pipeline.progress` rows that said so (the latest
    trusted mark of each), as the likely cause when the table never took that content; None
    when there is none."""
    if not batches:
        return None
    table = str(catalog.name(table))
    latest = _processed(catalog, table, batches).sort("source", "batch_id").collect()
    if latest.is_empty():
        return None
    named = "; ".join(f"source {s}, batch {b}, ingested_at {m.isoformat()}"
                      for s, b, m in latest.iter_rows())
    return (f"skipped as already processed: {TABLE} records {table} caught up with {named}. "
            f"If {table} never took that content, the row is wrong: delete it from {TABLE} "
            "and the next run processes the batch again.")


def _processed(catalog: Catalog, table: str, batches: Sequence[str]) -> pl.LazyFrame:
    """Marks `table` recorded: per source and batch, the latest it caught up to (marks from
    the future ignored)."""
    return (_recorded(catalog, table, batches).lazy()
            .group_by("source", "batch_id").agg(pl.col("ingested_at").max()))


def _upstream(catalog: Catalog, domain: Domain, inputs: Sequence[str], batches: Sequence[str]
              ) -> pl.DataFrame | None:
    """Per source and batch, the earliest mark among the inputs that cover the source, kept only
    where each of them has one; None if an input is untracked."""
    parts, covering = [], {}
    for name in (catalog.name(i).short for i in inputs):
        sources = feeding_sources(domain, name)
        if sources is None:
            return None
        for source in sources:
            covering[source] = covering.get(source, 0) + 1
        marks = _landed(catalog, domain, name, batches)
        if marks is None:
            marks = _processed(catalog, str(catalog.name(name)), batches)
        parts.append(marks.filter(pl.col("source").is_in(sources)).select(MARKS.names()))
    if not parts:
        return None
    counts = pl.DataFrame({"source": list(covering), "inputs": list(covering.values())},
                          schema={"source": pl.String, "inputs": pl.UInt32})
    return (pl.concat(parts).group_by("source", "batch_id")
            .agg(pl.col("ingested_at").min(), pl.len().alias("found"))
            .collect()
            .join(counts, on="source")
            .filter(pl.col("found") == pl.col("inputs"))
            .select(MARKS.names()).sort("source", "batch_id"))


def _pending(catalog: Catalog, table: str, upstream: pl.DataFrame | None,
             batches: Sequence[str]) -> Pending:
    name = str(catalog.name(table))
    if upstream is None or not catalog.exists(name):  # untracked input, or a table to rebuild
        marks = pl.DataFrame(schema=MARKS) if upstream is None else upstream
        return Pending(name, sorted(set(batches)), marks)
    recorded = (_recorded(catalog, name, batches).rename({"ingested_at": "done"})
                .join(upstream, on=["source", "batch_id"]))
    beyond = pl.col("done") > pl.col("ingested_at")
    _ignored(name, recorded.filter(beyond).select("source", "batch_id", ingested_at="done"),
             "later than its inputs' mark of the batch")
    done = (recorded.filter(~beyond).group_by("source", "batch_id")
            .agg(pl.col("done").max()))
    todo = (upstream.join(done, on=["source", "batch_id"], how="left")
            .filter(pl.col("done").is_null() | (pl.col("done") < pl.col("ingested_at"))))
    todo_batches = sorted(set(todo["batch_id"]))
    return Pending(name, todo_batches, upstream.filter(pl.col("batch_id").is_in(todo_batches)))


def pending_refinement(catalog: Catalog, source: Source, batches: Sequence[str]) -> Pending:
    """The batches among `batches` (landing days) of `source` whose latest content silver has
    not refined yet."""
    landed = _landed_marks(catalog, source, batches).select(MARKS.names()).collect()
    return _pending(catalog, source.silver_table, landed, batches)


def pending(catalog: Catalog, domain: Domain, table: str, inputs: Sequence[str],
            batches: Sequence[str]) -> Pending:
    """The batches among `batches` (landing days) that `table`, reading the tables `inputs`
    (`schema.table` names), has not processed since their inputs did. An input the domain
    does not declare makes every batch pending."""
    return _pending(catalog, table, _upstream(catalog, domain, inputs, batches), batches)


def mark_processed(catalog: Catalog, done: Pending) -> None:
    """Record that `done.table` caught up to `done.marks` (nothing is written when empty)."""
    if done.marks.is_empty():
        return
    create_once(catalog, TABLE, PROGRESS, TableInfo(  # steps of one run may race to create it
        owner="team:data-eng", comment="Landed batches each table has processed, up to the "
        "ingestion time of their latest content (a re-run with nothing new writes nothing).",
        tags={"layer": "pipeline"}))
    rows = done.marks.select(pl.lit(done.table).alias("table"), *MARKS.names(),
                             pl.lit(datetime.now(UTC), dtype=_UTC).alias("processed_at"))
    catalog.append(TABLE, rows)
