"""A source whose event times change (not `event_time_immutable`) feeding a gold aggregate: a
key that moves to another day leaves its old gold day recomputed, so day-by-day runs give the
same gold table as one backfill. A move is recorded only when the key's day changes in UTC or in
the time zone of an aggregate reading the source; a source no aggregate reads records none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.moves import day_zones, moves_table
from lakehouse_ml.medallion.silver import refine
from lakehouse_ml.medallion.spec import Domain
from tests.conftest import materialize
from tests.test_gold_time_zone import TRIPS, ZONE, gold, lakehouse, land

MUTABLE = replace(TRIPS.sources[0], event_time_immutable=False)
DOMAIN = replace(TRIPS, sources=(MUTABLE,))
UNREAD = replace(DOMAIN, aggregates=())


def _trip(trip: str, at: str) -> dict[str, str]:
    return {"trip_id": trip, "origin": "A", "departed_at": at}


def test_a_key_moved_to_another_day_gives_the_same_gold_day_by_day_as_in_a_backfill(
    tmp_path: Path,
) -> None:
    landing = tmp_path / "landing"
    land(landing, "trips", "2026-03-08", [_trip("t1", "2026-03-08T12:00:00Z")])
    land(landing, "trips", "2026-03-10", [_trip("t1", "2026-03-10T12:00:00Z")])
    daily, backfill = (lakehouse(tmp_path, name, landing) for name in ("daily", "backfill"))
    for day in ("2026-03-08", "2026-03-09", "2026-03-10"):
        assert materialize(daily, [day], domain=DOMAIN).success
    assert materialize(backfill, ["2026-03-08", "2026-03-10"], domain=DOMAIN).success

    assert gold(backfill).select("origin", "day", "trips").rows() == [("A", date(2026, 3, 10), 1)]
    assert gold(daily).equals(gold(backfill))


def _moves(tmp_path: Path, domain: Domain, *times: str) -> list[tuple[str, datetime, str]]:
    """Land t1 at each of `times` in batches 2026-03-20, -21, ... and refine each: the moves
    recorded."""
    landing, catalog = tmp_path / "landing", Catalog(str(tmp_path / "lakehouse"), "dev")
    zones = day_zones(domain, MUTABLE)
    for i, at in enumerate(times):
        day = f"2026-03-{20 + i}"
        land(landing, "trips", day, [_trip("t1", at)])
        ingest(catalog, MUTABLE, str(landing), [day])
        refine(catalog, MUTABLE, [day], zones)
    if not catalog.exists(moves_table(MUTABLE)):
        return []
    return catalog.read(moves_table(MUTABLE)).sort("_batch_id").rows()


def test_a_move_is_recorded_when_the_day_changes_in_utc_or_an_aggregate_time_zone(
    tmp_path: Path,
) -> None:
    assert day_zones(DOMAIN, MUTABLE) == {"UTC", ZONE}
    # 03-09 10:00Z → 03-10 02:00Z: a new UTC day, the same New York day (03-09)
    # 03-10 02:00Z → 03-10 06:00Z: the same UTC day, a new New York day (03-09 → 03-10)
    # 03-10 06:00Z → 03-10 20:00Z: 03-10 in both: no move (the instant changed within a day)
    assert _moves(tmp_path, DOMAIN, "2026-03-09T10:00:00Z", "2026-03-10T02:00:00Z",
                  "2026-03-10T06:00:00Z", "2026-03-10T20:00:00Z") == [
        ("t1", datetime(2026, 3, 9, 10, tzinfo=UTC), "2026-03-21"),
        ("t1", datetime(2026, 3, 10, 2, tzinfo=UTC), "2026-03-22"),
    ]


def test_a_source_no_aggregate_reads_records_no_move(tmp_path: Path) -> None:
    assert day_zones(UNREAD, MUTABLE) == set()
    assert _moves(tmp_path, UNREAD, "2026-03-08T12:00:00Z", "2026-03-10T12:00:00Z") == []
