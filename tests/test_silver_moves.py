"""A key moved to another day is recorded in `silver.<entity>_moves` whatever the batch's time
range: also when the batch holds an earlier event, so its range covers the time the key
leaves; gold then recomputes the day the key left."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.gold import build_aggregate
from lakehouse_ml.medallion.silver import refine

EVENTS = DOMAIN.source("events")
DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]


def _event(i: int, customer: int, ts: str) -> dict[str, object]:
    return {"event_id": f"e-{i}", "customer_id": customer, "event_ts": ts,
            "event_type": "login", "session_id": "s", "product_id": None, "revenue": None}


def _refresh(catalog: Catalog, settings: Settings, day: str,
             *rows: dict[str, object]) -> None:
    path = Path(settings.landing) / "events" / day / "a.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(catalog, EVENTS, str(settings.landing), [day])
    refine(catalog, EVENTS, [day])
    build_aggregate(catalog, DOMAIN, DOMAIN.aggregates[0], [day])


def test_a_move_inside_the_batch_time_range_is_recorded_and_gold_redone(
    settings: Settings, catalog: Catalog
) -> None:
    _refresh(catalog, settings, DAYS[1], _event(1, 1, "2026-03-02T10:00:00Z"),
             _event(2, 1, "2026-03-02T11:00:00Z"), _event(3, 2, "2026-03-02T12:00:00Z"))
    # the next batch: a late event of 03-01 (so its range, 03-01..03-03, covers e-1's stored
    # time) and e-1 re-sent with its time corrected into 03-03
    _refresh(catalog, settings, DAYS[2], _event(4, 3, "2026-03-01T09:00:00Z"),
             _event(1, 1, "2026-03-03T08:00:00Z"))
    silver = catalog.read(EVENTS.silver_table).sort("event_id")
    assert silver.select("event_id", "event_ts").rows()[0] == (
        "e-1", datetime(2026, 3, 3, 8, tzinfo=UTC))
    assert silver.height == 4
    moves = catalog.read("silver.events_moves")
    assert moves.rows() == [("e-1", datetime(2026, 3, 2, 10, tzinfo=UTC), DAYS[2])]
    # gold recomputed 03-02, the day e-1 left: customer 1 has one event left there
    gold = catalog.read("gold.daily_activity").sort("activity_date", "customer_id")
    assert gold.select("customer_id", "activity_date", "events").rows() == [
        (3, date(2026, 3, 1), 1), (1, date(2026, 3, 2), 1), (2, date(2026, 3, 2), 1),
        (1, date(2026, 3, 3), 1)]


def test_a_key_whose_time_is_unchanged_is_not_a_move(
    settings: Settings, catalog: Catalog
) -> None:
    _refresh(catalog, settings, DAYS[1], _event(1, 1, "2026-03-02T10:00:00Z"))
    _refresh(catalog, settings, DAYS[2], _event(2, 1, "2026-03-01T09:00:00Z"),
             _event(1, 1, "2026-03-02T10:00:00Z"))
    assert not catalog.exists("silver.events_moves")
    assert catalog.read(EVENTS.silver_table).height == 2
