"""The point-in-time join agrees with a brute-force reference on random data."""

from __future__ import annotations

import tempfile
from datetime import timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from tests.conftest import close_writers

from .timeline import at

ZONES = ["UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns"]
UNITS = ["ms", "us", "ns"]

feature_rows = st.dictionaries(
    st.tuples(st.integers(0, 3), st.integers(0, 12)), st.floats(allow_nan=False), max_size=40
)


@st.composite
def scenarios(draw):
    """Features, then label rows: random ones, and ones just after a feature row of their key."""
    features = draw(feature_rows)
    anywhere = st.tuples(
        st.one_of(st.none(), st.integers(0, 4)), st.one_of(st.none(), st.integers(-2, 14))
    )
    label = anywhere
    if features:
        near = st.builds(
            lambda row, d: (row[0], row[1] + d), st.sampled_from(sorted(features)),
            st.integers(-1, 6),
        )
        label = st.one_of(anywhere, near)
    return features, draw(st.lists(label, max_size=40))

def reference(features: dict, labels: list, window: int | None) -> list:
    """For each label: the value at the greatest feature time <= t, within the window."""
    out = []
    for key, t in labels:
        seen = [s for k, s in features if k == key and t is not None and s <= t]
        best = max(seen, default=None)
        ok = best is not None and (window is None or t - best <= window)
        out.append(features[(key, best)] if ok else None)
    return out


def timed(seconds: list, zone: str, unit: str) -> pl.Series:
    values = [None if s is None else at(seconds=s) for s in seconds]
    series = pl.Series(values, dtype=pl.Datetime("us", "UTC"))
    return series.dt.cast_time_unit(unit).dt.convert_time_zone(zone)


@settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    scenario=scenarios(), window=st.one_of(st.none(), st.integers(0, 5)),
    zones=st.tuples(st.sampled_from(ZONES), st.sampled_from(ZONES)),
    units=st.tuples(st.sampled_from(UNITS), st.sampled_from(UNITS)),
    key_type=st.sampled_from([pl.Int64, pl.String]),
)
def test_matches_brute_force(scenario, window, zones, units, key_type):
    """Integer keys take the folded (key, time) join, other keys the join grouped by key."""
    features, labels = scenario
    keys = [k for k, _ in features]
    written = pl.DataFrame({
        "k": pl.Series(keys, dtype=pl.Int64).cast(key_type),
        "ts": timed([s for _, s in features], zones[0], units[0]),
        "v": pl.Series(list(features.values()), dtype=pl.Float64),
    })
    rows = pl.DataFrame({
        "k": pl.Series([k for k, _ in labels], dtype=pl.Int64).cast(key_type),
        "t": timed([t for _, t in labels], zones[1], units[1]),
    })
    lookback = None if window is None else timedelta(seconds=window)
    with tempfile.TemporaryDirectory() as root:
        fe = FeatureEngineeringClient(Catalog(root, "dev"))
        fe.create_table("gold.f", "k", timeseries_column="ts", df=written)
        lookup = FeatureLookup("gold.f", "k", "t", lookback_window=lookback)
        out = fe.create_training_set(rows, [lookup], label=None).load_df()
        close_writers()  # audit and lineage written before the folder goes
    assert out.select("k", "t").equals(rows)
    assert out["v"].to_list() == reference(features, labels, window)

