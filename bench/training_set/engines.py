"""The timed part of each engine: labels are in memory, feature tables are on disk as Delta."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from bench.training_set.data import KEY, LABELS, Sizes, client


class Clock:
    """Wall and CPU seconds (all threads of the process): on a shared machine CPU time is the
    steadier measure of work done."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> dict:
        return {
            "seconds": round(time.perf_counter() - self.wall, 3),
            "cpu_seconds": round(time.process_time() - self.cpu, 3),
        }


def _summary(frame: pl.DataFrame, sizes: Sizes, clock: Clock) -> dict:
    """Seconds, rows returned and, per table, rows that matched and the sum of one feature."""
    first = [frame[sizes.feature(i, 0)] for i in range(sizes.tables)]
    return {
        **clock.read(), "rows": frame.height,
        "matched": [int(c.is_not_null().sum()) for c in first],
        "checksum": [round(c.sum(), 2) for c in first],
    }


def ours(workdir: Path, sizes: Sizes, window: timedelta | None) -> dict:
    fe = client(workdir)
    labels = fe.catalog.read(LABELS)
    clock = Clock()
    frame = fe.create_training_set(labels, sizes.lookups(window), label="label").load_df()
    return _summary(frame, sizes, clock)


def _duckdb_query(sizes: Sizes, window: timedelta | None) -> str:
    columns, joins = [], []
    for i in range(sizes.tables):
        alias = f"f{i}"
        for j in range(sizes.features):
            name = sizes.feature(i, j)
            if window is None:
                columns.append(f"{alias}.{name}")
            else:
                seconds = int(window.total_seconds())
                columns.append(
                    f"CASE WHEN l.label_time - {alias}.ts <= INTERVAL {seconds} SECOND "
                    f"THEN {alias}.{name} END AS {name}"
                )
        joins.append(
            f"ASOF LEFT JOIN {alias} ON l.{KEY} = {alias}.{KEY} AND l.label_time >= {alias}.ts"
        )
    return f"SELECT l.*, {', '.join(columns)} FROM labels l {' '.join(joins)}"


def duckdb(workdir: Path, sizes: Sizes, window: timedelta | None) -> dict:
    """DuckDB ASOF JOIN over Arrow read by polars from the same Delta tables (no delta ext.)."""
    import duckdb as ddb

    fe = client(workdir)
    labels = fe.catalog.read(LABELS).to_arrow()
    con = ddb.connect()
    clock = Clock()
    for i in range(sizes.tables):
        con.register(f"f{i}", fe.read_table(sizes.table(i)).to_arrow())
    con.register("labels", labels)
    read = clock.read()["seconds"]
    frame = pl.from_arrow(con.sql(_duckdb_query(sizes, window)).to_arrow_table())
    return {**_summary(frame, sizes, clock), "read_seconds": read}


ENGINES = {"ours": ours, "duckdb": duckdb}
