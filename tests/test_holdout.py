"""Holdout by date (issue 11, item 4): `ModelSpec.holdout_start` or `holdout_fraction`, never
both; train strictly before the start, holdout at or after it; either side empty is an error."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.train import train

TIME, LABEL = MODEL.training_set.time_column, MODEL.training_set.label
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
QUICK = replace(MODEL, params={"max_iter": 5, "random_state": 0})


def frame(rows: int = 240, days: int = 12) -> pl.DataFrame:
    """Labels on `days` consecutive days (one label time per day), the churn model's columns."""
    rng = np.random.default_rng(0)
    return pl.DataFrame({
        "customer_id": np.arange(rows),
        TIME: [DAY0 + timedelta(days=int(d)) for d in np.arange(rows) % days],
        "tenure_days": rng.uniform(0, 100, rows),
        "plan_tier": rng.choice(["basic", "pro"], rows),
        "country": rng.choice(["FR", "DE"], rows),
        LABEL: rng.uniform(0, 1, rows) > 0.5,
    }).with_columns(pl.col(TIME).cast(pl.Datetime("us", "UTC")))


def test_holdout_start_trains_before_it_and_holds_out_from_it() -> None:
    start = DAY0 + timedelta(days=9)  # train on days 0-8, validate on 9-11
    trained = train(replace(QUICK, holdout_fraction=None, holdout_start=start), frame())
    assert trained.train[TIME].max() == start - timedelta(days=1)
    assert trained.holdout[TIME].min() == start  # the start instant itself is held out
    assert trained.holdout[TIME].unique().len() == 3
    assert trained.train.height + trained.holdout.height == 240


def test_holdout_start_may_fall_between_label_times_and_in_another_zone() -> None:
    paris = datetime(2026, 1, 10, 12, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    trained = train(replace(QUICK, holdout_fraction=None, holdout_start=paris), frame())
    assert trained.train[TIME].max() == datetime(2026, 1, 10, tzinfo=UTC)
    assert trained.holdout[TIME].min() == datetime(2026, 1, 11, tzinfo=UTC)


def test_holdout_fraction_still_holds_out_the_latest_share_of_label_times() -> None:
    trained = train(replace(QUICK, holdout_fraction=0.25), frame())
    assert trained.holdout[TIME].min() == DAY0 + timedelta(days=9)
    assert trained.train[TIME].max() == DAY0 + timedelta(days=8)


@pytest.mark.parametrize(("start", "side"), [(DAY0, "training"),
                                             (DAY0 - timedelta(days=30), "training"),
                                             (DAY0 + timedelta(days=11, seconds=1), "holdout")])
def test_a_holdout_start_that_empties_a_side_is_a_clear_error(start: datetime, side: str) -> None:
    spec = replace(QUICK, holdout_fraction=None, holdout_start=start)
    with pytest.raises(ValueError, match=f"holdout_start .* leaves no {side} rows .*{TIME} spans"):
        train(spec, frame())


def test_holdout_fraction_and_start_together_are_refused() -> None:
    with pytest.raises(ValueError, match="holdout_fraction or holdout_start, not both"):
        replace(QUICK, holdout_fraction=0.25, holdout_start=DAY0)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_a_holdout_fraction_outside_zero_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match="holdout_fraction must be between 0 and 1"):
        replace(QUICK, holdout_fraction=fraction)


def test_a_naive_holdout_start_is_refused() -> None:
    with pytest.raises(ValueError, match="holdout_start .* has no time zone"):
        replace(QUICK, holdout_fraction=None, holdout_start=datetime(2026, 1, 5))
