"""Batch scores are never stamped in the future: `scoring_time` is the latest snapshot every
point-in-time lookup can serve, but no later than now (issue 11 trial item 4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ml.batch import scoring_time
from tests.test_boundaries_ml import SPEC
from tests.test_leakage_check import POINT_IN_TIME, T0, features, spec

MODEL = replace(SPEC, training_set=spec(POINT_IN_TIME))


def test_scoring_time_is_the_latest_snapshot_but_never_after_now(catalog: Catalog) -> None:
    features(catalog, [timedelta(days=-1), timedelta(0), timedelta(days=2)])

    assert scoring_time(catalog, MODEL, now=T0 + timedelta(days=3)) == T0 + timedelta(days=2)
    assert scoring_time(catalog, MODEL, now=T0 + timedelta(hours=5)) == T0 + timedelta(hours=5)


def test_a_snapshot_stamped_tomorrow_scores_as_of_the_current_time(catalog: Catalog) -> None:
    before = datetime.now(UTC)
    tomorrow = before.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    features(catalog, [timedelta(0), timedelta(days=1), tomorrow - T0])

    as_of = scoring_time(catalog, MODEL)

    assert before <= as_of <= datetime.now(UTC)
