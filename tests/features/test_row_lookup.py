"""Row-by-row online lookups (serving's path) give what `lookup_online` gives, value for value."""

from __future__ import annotations

import random
from datetime import date, timedelta
from types import SimpleNamespace

import polars as pl
import pytest

from lakehouse_ml.features import FeatureEngineeringClient, FeatureFunction, FeatureLookup
from lakehouse_ml.features.row_lookup import RowLookupUnsupported
from lakehouse_ml.features.timestamps import STORED
from lakehouse_ml.serving.model import lookup_path

from .timeline import at

KEYS = 40
SPECIALS = [None, float("nan"), float("inf"), -0.0, 0.1 + 0.2]


def _snapshots(seed: int) -> pl.DataFrame:
    """Several snapshots per key over 20 days, with every awkward float and nulls of each type."""
    rng = random.Random(seed)
    rows = [(k, at(days=rng.uniform(0, 20))) for k in range(KEYS) for _ in range(3)]
    n = len(rows)
    return pl.DataFrame({
        "cid": [k for k, _ in rows], "ts": [t for _, t in rows],
        "score": [rng.choice([*SPECIALS, rng.uniform(-5, 5)]) for _ in range(n)],
        "small": pl.Series([rng.choice([None, rng.uniform(0, 1)]) for _ in range(n)],
                           dtype=pl.Float32),
        "visits": [rng.choice([None, rng.randint(-3, 10**12)]) for _ in range(n)],
        "active": [rng.choice([None, True, False]) for _ in range(n)],
        "tier": [rng.choice([None, "gold", "free", "é"]) for _ in range(n)],
        "born": [date(2000, 1, 1)] * n,
    }).with_columns(pl.col("ts").cast(STORED))


def _same(a: list, b: list) -> bool:
    """Equal as values and types: NaN equals NaN, -0.0 differs from 0.0, 1 from 1.0."""
    return [repr(v) for v in a] == [repr(v) for v in b]


@pytest.fixture
def published(fe: FeatureEngineeringClient) -> FeatureEngineeringClient:
    fe.create_table("gold.activity", "cid", timeseries_column="ts", df=_snapshots(1))
    fe.create_table("gold.plan", ["cid", "shop"], df=pl.DataFrame({
        "cid": [1, 2, 3], "shop": ["a", "a", "b"], "fee": [10, None, 30]}))
    for table in ("gold.activity", "gold.plan"):
        fe.publish_table(table)
    return fe


STEPS = [
    FeatureLookup("gold.activity", "customer", "served_at", lookback_window=timedelta(days=4),
                  rename_outputs={"score": "recent_score"},
                  default_values={"visits": 0.5, "tier": "none"}),
    FeatureLookup("gold.activity", "customer", "served_at", feature_names=["score", "active"],
                  rename_outputs={"active": "active_now"}),
    FeatureLookup("gold.plan", ["customer", "shop"], feature_names=["fee"],
                  default_values={"fee": -1}),
    FeatureFunction("per_visit", (pl.col("score") / pl.col("visits")).fill_nan(None)),
    FeatureFunction("fee_per_visit", pl.col("f") * pl.col("v"),
                    input_bindings={"f": "fee", "v": "per_visit"}),
]
KEY_TYPES = pl.Schema({"customer": pl.Int64, "shop": pl.String})
NEEDED = ["recent_score", "small", "visits", "active", "tier", "score", "active_now", "fee",
          "fee_per_visit"]


def test_row_lookup_equals_lookup_online(published: FeatureEngineeringClient) -> None:
    rows = published.row_lookup(STEPS, KEY_TYPES, NEEDED)
    rng = random.Random(2)
    keys = {"customer": [rng.randint(0, KEYS + 5) for _ in range(60)],
            "shop": [rng.choice(["a", "b"]) for _ in range(60)]}
    matched = {}
    for days in (-1, 5, 12, 21, 30):  # before any snapshot, inside and past the window
        served_at = at(days=days)
        got = rows(keys, served_at)
        frame = pl.DataFrame(keys, schema=KEY_TYPES).with_columns(
            pl.lit(served_at, dtype=STORED).alias("served_at"))
        expected = published.lookup_online(frame, STEPS).select(NEEDED).to_dict(as_series=False)
        assert list(got) == NEEDED
        for column in NEEDED:
            assert _same(got[column], expected[column]), (days, column)
        matched[days] = sum(v is not None for v in got["recent_score"])
    assert matched[-1] == matched[30] == 0 and min(matched[d] for d in (5, 12, 21)) > 0, matched


def test_a_new_publish_is_read_at_its_version(published: FeatureEngineeringClient) -> None:
    rows = published.row_lookup(STEPS[:1], KEY_TYPES, ["recent_score"])
    later = at(days=25)
    keys = {"customer": [3, 4]}
    assert rows(keys, later)["recent_score"] == [None, None]  # every snapshot is too old
    published.write_table("gold.activity", _snapshots(1).filter(pl.col("cid") == 3).head(1)
                          .with_columns(ts=pl.lit(at(days=24), dtype=STORED), score=pl.lit(7.0)))
    published.publish_table("gold.activity")
    assert rows(keys, later)["recent_score"] == [7.0, None]


def test_a_needed_column_rows_cannot_carry_is_refused(published: FeatureEngineeringClient
                                                      ) -> None:
    published.row_lookup(STEPS[:1], KEY_TYPES, ["tier"])  # the date column is not needed
    with pytest.raises(RowLookupUnsupported, match="born"):
        published.row_lookup(STEPS[:1], KEY_TYPES, ["born"])


def test_serving_falls_back_to_frames_with_the_same_values(published: FeatureEngineeringClient
                                                           ) -> None:
    spec = SimpleNamespace(name="test.training_set", feature_lookups=STEPS)
    by_row, row_why = lookup_path(published, spec, KEY_TYPES, NEEDED)
    on_frames, frame_why = lookup_path(published, spec, KEY_TYPES, [*NEEDED, "born"])
    assert row_why is None and frame_why is not None  # a date column needs frames
    keys = {"customer": [1, 3, 7, KEYS + 1], "shop": ["a", "b", "a", "a"]}
    for served_at in (at(days=6), at(days=15)):
        (framed, framed_missing), (rows, rows_missing) = (on_frames(keys, served_at),
                                                          by_row(keys, served_at))
        assert all(_same(framed[c], rows[c]) for c in NEEDED)
        assert len(framed["born"]) == len(keys["customer"])
        assert framed_missing == rows_missing


def test_unmatched_lookups_are_the_same_row_by_row_and_on_frames(
        fe: FeatureEngineeringClient) -> None:
    """One read tells values and which lookups found no row: a known key, a key whose only
    row is older than the lookback window, one whose only row is after the serving time, an
    unknown key; a matched row whose feature is null still counts as found."""
    fe.create_table("gold.visits", "cid", timeseries_column="ts", df=pl.DataFrame({
        "cid": [1, 2, 3], "ts": [at(days=10), at(days=1), at(days=12)], "n": [5, 6, 7],
        "born": [date(2000, 1, 1)] * 3}).with_columns(pl.col("ts").cast(STORED)))
    fe.create_table("gold.plan", ["cid", "shop"], df=pl.DataFrame({
        "cid": [1, 2], "shop": ["a", "a"], "fee": [10, None]}))
    for table in ("gold.visits", "gold.plan"):
        fe.publish_table(table)
    steps = [FeatureLookup("gold.visits", "customer", "served_at",
                           lookback_window=timedelta(days=4), default_values={"n": 0}),
             FeatureLookup("gold.plan", ["customer", "shop"], feature_names=["fee"])]
    spec = SimpleNamespace(name="test.training_set", feature_lookups=steps)
    by_row, row_why = lookup_path(fe, spec, KEY_TYPES, ["n", "fee"])
    on_frames, frame_why = lookup_path(fe, spec, KEY_TYPES, ["n", "fee", "born"])
    assert row_why is None and frame_why is not None
    keys = {"customer": [1, 2, 3, 99], "shop": ["a"] * 4}
    values, unmatched = by_row(keys, at(days=11))
    assert values == {"n": [5, 0, 0, 0], "fee": [10, None, None, None]}
    assert unmatched == [[], ["gold.visits"], ["gold.visits", "gold.plan"],
                         ["gold.visits", "gold.plan"]]
    assert on_frames(keys, at(days=11))[1] == unmatched
    assert by_row(keys, at(days=13)) == ({"n": [5, 0, 7, 0], "fee": [10, None, None, None]},
                                         [[], ["gold.visits"], ["gold.plan"],
                                          ["gold.visits", "gold.plan"]])
    assert on_frames(keys, at(days=13))[1] == by_row(keys, at(days=13))[1]
