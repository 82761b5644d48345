"""Late data older than a feature table's `max_lateness_days` (stranger11c #3): the refresh
redoes snapshots only that far back, so older ones it changes are left stale and the table
differs from a backfill. The engine returns those days; the feature asset reports them in its
metadata and fails its `late_data_redone` warning check naming the table, the days and
`max_lateness_days`, instead of every check passing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from lakehouse_ml.config import Settings
from lakehouse_ml.features.snapshots import snapshot_days, stale_snapshot_days
from tests.conftest import materialize
from tests.test_feature_time_zone import FERRY, WEEK
from tests.test_gold_time_zone import land

START = date(2026, 11, 1)
DOMAIN = replace(FERRY, start_date=START)
DAYS = [(START + timedelta(days=i)).isoformat() for i in range(20)]  # 11-01 .. 11-20


def test_stale_days_are_the_changed_snapshots_older_than_the_days_redone() -> None:
    """Data of 11-05 landing with 11-20: snapshots from 11-06 change, 11-21 and the 7 days
    before it (11-14 ..) are redone, 11-06 .. 11-13 are not."""
    touched = date(2026, 11, 5)
    redone = snapshot_days(WEEK, ["2026-11-20"], touched)
    stale = stale_snapshot_days(WEEK, ["2026-11-20"], touched)
    assert redone[0] == date(2026, 11, 14) and redone[-1] == date(2026, 11, 21)
    assert stale == [date(2026, 11, 6) + timedelta(days=i) for i in range(8)]
    # within max_lateness_days every changed snapshot is redone; nothing late: nothing stale
    assert stale_snapshot_days(WEEK, ["2026-11-20"], date(2026, 11, 13)) == []
    assert stale_snapshot_days(WEEK, ["2026-11-20"], None) == []
    assert stale_snapshot_days(WEEK, [], touched) == []
    # a table allowing more lateness redoes them all
    assert stale_snapshot_days(replace(WEEK, max_lateness_days=20), ["2026-11-20"],
                               touched) == []


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [check] = [c for c in result.get_asset_check_evaluations()
               if c.check_name == "late_data_redone"]
    return check


def _stale_metadata(result: dg.ExecuteInProcessResult) -> list[str]:
    """The days listed by the run's materializations of the table (one per partition, alike)."""
    [listed] = {tuple(m.materialization.metadata["stale_snapshot_days"].value)
                for m in result.get_asset_materialization_events()
                if m.asset_key == dg.AssetKey(["gold", "vessel_week"])}
    return list(listed)


def test_the_feature_asset_warns_naming_the_snapshots_left_stale(
    tmp_path: Path, settings: Settings
) -> None:
    landing = Path(settings.landing)
    for i, day in enumerate(DAYS):
        land(landing, "crossings", day, [{"crossing_id": f"c{i}", "vessel": "v0",
                                          "departed_at": f"{day}T15:00:00Z"}])
    backfill = materialize(settings, DAYS, domain=DOMAIN)
    assert backfill.success
    check = _check(backfill)
    assert check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert _stale_metadata(backfill) == []

    # a crossing of New York's 11-05 lands with 11-21: 16 days late
    land(landing, "crossings", "2026-11-21", [{"crossing_id": "late", "vessel": "v0",
                                               "departed_at": "2026-11-05T15:00:00Z"}])
    late = materialize(settings, ["2026-11-21"], domain=DOMAIN)
    assert late.success  # a warning: the refresh is not blocked
    check = _check(late)
    stale = [(date(2026, 11, 6) + timedelta(days=i)).isoformat() for i in range(9)]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert _stale_metadata(late) == stale
    assert check.description is not None
    for said in ("gold.vessel_week", "2026-11-06 to 2026-11-14", "9 day(s)",
                 "max_lateness_days=7", "rebuilding those days", "raise max_lateness_days"):
        assert said in check.description, (said, check.description)
    assert check.metadata["max_lateness_days"].value == 7

    # nothing pending: no late data arrived, so none is left stale (a re-run adds no warning)
    again = materialize(settings, ["2026-11-21"], domain=DOMAIN)
    check = _check(again)
    assert check.passed and "no late data arrived" in (check.description or "")
