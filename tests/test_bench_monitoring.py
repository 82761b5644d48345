"""The monitoring benchmark's harness: its data carries the planted changes it claims, and its
agreement table tells decisions that differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from bench.monitoring.data import columns, generate
from bench.monitoring.run import agreement

ROWS = 20_000


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("monitoring-data")
    generate(out, ROWS)
    return out


def _normed_wasserstein(ref: pl.Series, cur: pl.Series) -> float:
    a, b = ref.drop_nulls().to_numpy(), cur.drop_nulls().to_numpy()
    return float(wasserstein_distance(a, b) / np.std(a))


def _js(ref: pl.Series, cur: pl.Series) -> float:
    counts = (pl.concat([ref.drop_nulls().value_counts().with_columns(side=pl.lit("ref")),
                         cur.drop_nulls().value_counts().with_columns(side=pl.lit("cur"))])
              .pivot("side", index=ref.name, values="count").fill_null(0))
    return float(jensenshannon(counts["ref"].to_numpy(), counts["cur"].to_numpy()))


def test_planted_changes_measure_as_stated(data: Path) -> None:
    reference = pl.read_parquet(data / "reference.parquet")
    current = pl.read_parquet(data / "current.parquet")
    planted = columns(data)
    assert reference.shape == current.shape == (ROWS, 60)
    assert sum(not c.categorical for c in planted) == 50
    for column in planted:
        ref, cur = reference[column.name], current[column.name]
        if column.categorical:
            if len(ref.unique()) > 100:  # sampling noise of JS grows with the categories
                continue
            measured = _js(ref, cur)
        else:
            assert ref.n_unique() > 20 and cur.n_unique() > 20  # Evidently: Wasserstein
            measured = _normed_wasserstein(ref, cur)
        assert measured == pytest.approx(column.expected, abs=0.03), column
    drifted = {c.name for c in planted if c.expected >= 0.1}
    assert drifted == {"num_00", "num_01", "num_02", "num_03", "num_04", "num_05",
                       "cat_0", "cat_1", "cat_7"}
    assert reference["num_19"].null_count() > 0 and reference["cat_9"].null_count() > 0


def test_generation_is_reproducible(data: Path, tmp_path: Path) -> None:
    generate(tmp_path, ROWS)
    for name in ("reference.parquet", "current.parquet"):
        assert pl.read_parquet(tmp_path / name).equals(pl.read_parquet(data / name))


def test_agreement_names_a_differing_decision(data: Path) -> None:
    planted = columns(data)[:2]
    ours = {"num_00": {"method": "w", "value": 0.5, "drift": True},
            "num_01": {"method": "w", "value": 0.09, "drift": False}}
    theirs = {"num_00": {"method": "w", "value": 0.5, "drift": True},
              "num_01": {"method": "w", "value": 0.11, "drift": True}}
    rows = agreement(planted, ours, theirs)
    assert [r["agree"] for r in rows] == [True, False]
    assert (rows[1]["ours_value"], rows[1]["evidently_value"]) == (0.09, 0.11)
    missing = agreement(planted, {}, theirs)
    assert not any(r["agree"] for r in missing)  # a column one side did not decide differs


def _evidently_js(ref: pl.Series, cur: pl.Series) -> float:
    """Evidently 0.7.23's `_jensenshannon` for categories: `get_binned_data(...,
    feel_zeroes=False)` (each side's frequencies over both sides' non-NULL values, unsmoothed),
    then scipy's JS distance in its default base e."""
    counts = (pl.concat([ref.drop_nulls().value_counts().with_columns(side=pl.lit("ref")),
                         cur.drop_nulls().value_counts().with_columns(side=pl.lit("cur"))])
              .pivot("side", index=ref.name, values="count").fill_null(0))
    return float(jensenshannon(counts["ref"].to_numpy() / ref.drop_nulls().len(),
                               counts["cur"].to_numpy() / cur.drop_nulls().len()))


def test_ours_configured_as_evidently_gives_evidentlys_values(data: Path) -> None:
    from bench.monitoring.ours import WASSERSTEIN, evidently_decisions, profile_frame
    from lakehouse_ml.monitoring.drift import drift_rows

    reference = pl.read_parquet(data / "reference.parquet")
    current = pl.read_parquet(data / "current.parquet").with_columns(
        cat_3=pl.when(pl.int_range(pl.len()) < 50).then(pl.lit("only_in_current"))
        .otherwise(pl.col("cat_3")))  # a category the reference lacks
    categorical = {c.name: c.categorical for c in columns(data)}
    kinds = {name: "string" if cat else "numeric" for name, cat in categorical.items()}
    decided = evidently_decisions(
        drift_rows(current, reference, categorical), profile_frame(reference, kinds, categorical),
        profile_frame(current, kinds, categorical), categorical)
    for name, is_categorical in categorical.items():
        ref, cur = reference[name], current[name]
        if is_categorical:
            expected = _evidently_js(ref, cur)
        else:
            a = ref.drop_nulls().to_numpy()
            expected = wasserstein_distance(a, cur.drop_nulls().to_numpy()) / max(np.std(a), 1e-3)
            assert decided[name]["method"] == WASSERSTEIN
        assert decided[name]["value"] == pytest.approx(expected, rel=1e-3), name
        assert decided[name]["drift"] == (expected >= 0.1), name
