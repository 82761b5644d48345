"""One silver row per primary key, whatever event time a new version carries, even for sources
whose MERGE reads only the batch's time range (`event_time_immutable`); reconciliation and
gold count the key once; the blocking `unique_keys` check names keys held twice."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.medallion import daily_partitions, silver_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.changes import earliest_touched_day
from lakehouse_ml.medallion.gold import build_aggregate
from lakehouse_ml.medallion.reconcile import reconcile
from lakehouse_ml.medallion.silver import refine

EVENTS = DOMAIN.source("events")
DAYS = ["2026-03-01", "2026-03-02"]


def _event(i: int, customer: int, ts: str) -> dict[str, object]:
    return {"event_id": f"e-{i}", "customer_id": customer, "event_ts": ts,
            "event_type": "login", "session_id": "s", "product_id": None, "revenue": None}


def _land(settings: Settings, day: str, *rows: dict[str, object]) -> None:
    path = Path(settings.landing) / "events" / day / "a.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _refresh(catalog: Catalog, settings: Settings, day: str) -> None:
    ingest(catalog, EVENTS, str(settings.landing), [day])
    refine(catalog, EVENTS, [day])
    build_aggregate(catalog, DOMAIN, DOMAIN.aggregates[0], [day])


def test_event_resent_with_a_corrected_time_keeps_one_row(
    settings: Settings, catalog: Catalog
) -> None:
    _land(settings, DAYS[0], _event(1, 1, "2026-03-01T10:00:00Z"),
          _event(2, 2, "2026-03-01T11:00:00Z"))
    # a day later: e-1 again, its time corrected into the next day, and a new event
    _land(settings, DAYS[1], _event(1, 1, "2026-03-02T08:00:00Z"),
          _event(3, 1, "2026-03-02T09:00:00Z"))
    for day in DAYS:
        _refresh(catalog, settings, day)
    silver = catalog.read(EVENTS.silver_table).sort("event_id")
    assert silver.select("event_id", "event_ts", "_batch_id").rows() == [
        ("e-1", datetime(2026, 3, 2, 8, tzinfo=UTC), DAYS[1]),
        ("e-2", datetime(2026, 3, 1, 11, tzinfo=UTC), DAYS[0]),
        ("e-3", datetime(2026, 3, 2, 9, tzinfo=UTC), DAYS[1]),
    ]
    balance = reconcile(catalog, EVENTS, DAYS)
    assert balance.select("batch_id", "landed", "in_silver", "collapsed", "lost",
                          "balanced").rows() == [(DAYS[0], 2, 1, 1, 0, True),
                                                 (DAYS[1], 2, 2, 0, 0, True)]
    alone = reconcile(catalog, EVENTS, DAYS[:1])  # the day e-1 left, checked on its own
    assert alone.select("collapsed", "lost", "balanced").rows() == [(1, 0, True)]
    moves = catalog.read("silver.events_moves")
    assert moves.rows() == [("e-1", datetime(2026, 3, 1, 10, tzinfo=UTC), DAYS[1])]
    # gold recomputed the day e-1 left: customer 1 has no activity left on 2026-03-01
    gold = catalog.read("gold.daily_activity").sort("activity_date", "customer_id")
    assert gold.select("customer_id", "activity_date", "events").rows() == [
        (2, date(2026, 3, 1), 1), (1, date(2026, 3, 2), 2)]


def test_feature_snapshots_redo_from_the_day_a_key_left(
    settings: Settings, catalog: Catalog
) -> None:
    _land(settings, DAYS[0], _event(1, 1, "2026-03-01T10:00:00Z"))
    _land(settings, DAYS[1], _event(1, 1, "2026-03-05T08:00:00Z"))
    for day in DAYS:
        _refresh(catalog, settings, day)
    # e-1 left 2026-03-01: the snapshots after that day no longer see it
    assert earliest_touched_day(catalog, DOMAIN, DAYS[1:]) == date(2026, 3, 1)
    # of the sources a feature table reads: the move counts for one reading events only
    assert earliest_touched_day(catalog, DOMAIN, DAYS[1:], {"events"}) == date(2026, 3, 1)
    assert earliest_touched_day(catalog, DOMAIN, DAYS[1:], {"customers", "tickets"}) is None


def test_an_older_version_with_another_time_does_not_add_a_row(
    settings: Settings, catalog: Catalog
) -> None:
    _land(settings, DAYS[0], _event(1, 1, "2026-03-02T08:00:00Z"))
    _land(settings, DAYS[1], _event(1, 1, "2026-03-01T10:00:00Z"))
    for day in DAYS:
        _refresh(catalog, settings, day)
    silver = catalog.read(EVENTS.silver_table)
    assert silver.select("event_id", "_batch_id").rows() == [("e-1", DAYS[1])]


def test_unique_keys_check_blocks_and_names_the_repeated_keys(
    settings: Settings, catalog: Catalog
) -> None:
    _land(settings, DAYS[0], _event(1, 1, "2026-03-01T10:00:00Z"),
          _event(2, 2, "2026-03-01T11:00:00Z"))
    ingest(catalog, EVENTS, str(settings.landing), [DAYS[0]])
    refine(catalog, EVENTS, [DAYS[0]])
    # a second row for e-2, as a writer outside the engine could leave it
    catalog.append(EVENTS.silver_table, catalog.read(EVENTS.silver_table)
                   .filter(pl.col("event_id") == "e-2").with_columns(pl.lit("x#1")
                                                                    .alias("_record_id")))
    result = dg.materialize(
        [silver_asset(EVENTS, daily_partitions(DOMAIN))], partition_key=DAYS[0],
        resources={"lakehouse": LakehouseResource.from_settings(settings)},
        raise_on_error=False,
    )
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["unique_keys"].passed is False
    assert checks["unique_keys"].blocking is True
    assert checks["unique_keys"].description.endswith(
        "silver.events holds 1 key(s) more than once: event_id='e-2' (2 rows)")
    assert checks["unique_keys"].metadata["duplicate_keys"].value == 1
