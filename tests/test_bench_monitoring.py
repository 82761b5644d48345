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
