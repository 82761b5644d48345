"""The monitoring benchmark's data: a reference (baseline) and a current data set with the same
50 numeric and 10 categorical columns, some shifted by known amounts, most not.

Seeded (`SEED`, each column from its own `numpy.random.default_rng([SEED, column, side])`), so
the files are the same on every machine; written once as Parquet under
`bench/out/monitoring/data-<rows>r-s<seed>/` (`reference.parquet`, `current.parquet`, and
`columns.json`: each column's kind, family, planted change and its expected drift measure).

Numeric families (`i % 5` of `num_<i>`): normal, log-normal, uniform, Poisson (Int64, λ=50,
so > 20 distinct values) and exponential; every column `num_<i>` with `i % 10 == 9` has 1 %
nulls on both sides. Planted changes, in units of the reference's population std: a location
shift of 0.5 std on num_00..num_04 (one per family), a 1.5× scale on num_05 (normal, mean
kept), a location shift of 0.03 std on num_06, num_07 and num_09 (real but below the 0.1
threshold); the other 41 are drawn from the same distribution on both sides. `expected` is
the normed Wasserstein distance W1(ref, cur) / std(ref) of the two populations: |shift| / std
for a shift, |k - 1|·sqrt(2/π) for a k× scale of a normal.

Categorical `cat_<j>`: 3 to 1,000 categories with Zipf-like frequencies p_k ∝ (k + 1)^-0.8;
cat_9 has 2 % nulls on both sides. Planted changes: cat_0 frequencies reversed, cat_1 gains a
new category with 15 % of the rows, cat_7's top 10 frequencies rotated, cat_2 mixed with
20 % uniform (JS 0.033: below the threshold). `expected` is the Jensen–Shannon distance
(natural log) of the two populations' frequencies.

    python -m bench.monitoring.data OUT_DIR ROWS      # (what `ensure_data` runs in a child)
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy.spatial.distance import jensenshannon

from bench.common import OUT, Stopwatch, emit, fmt_bytes, run_phase

SEED = 12
VERSION = 1
"""Bump when the generator changes: the cache key of the files."""
NUMERIC = 50
CATEGORICAL = 10
CARDINALITIES = (3, 4, 5, 8, 12, 20, 50, 100, 250, 1000)
FAMILIES = ("normal", "lognormal", "uniform", "poisson", "exponential")
NUMERIC_NULLS, CATEGORICAL_NULLS = 0.01, 0.02
LOGNORMAL_SIGMA, UNIFORM_HIGH, POISSON_LAM, EXPONENTIAL_SCALE = 0.5, 10.0, 50.0, 2.0
SHIFT_DRIFT, SHIFT_SMALL, SCALE = 0.5, 0.03, 1.5
SMALL = (6, 7, 9)
"""Columns shifted by SHIFT_SMALL std (not Poisson: its shift must be a whole number)."""
MIXED = 0.2


@dataclass(frozen=True)
class Column:
    """One generated column and the change planted in its current data."""

    name: str
    categorical: bool
    family: str
    change: str
    expected: float
    """Evidently's measure between the two populations: normed Wasserstein or JS distance."""


def _family_std(family: str, i: int) -> float:
    if family == "normal":
        return 1.0 + i % 7
    if family == "lognormal":
        s2 = LOGNORMAL_SIGMA**2
        return math.sqrt((math.exp(s2) - 1) * math.exp(s2))
    if family == "uniform":
        return UNIFORM_HIGH / math.sqrt(12)
    if family == "poisson":
        return math.sqrt(POISSON_LAM)
    return EXPONENTIAL_SCALE


def _draw(family: str, i: int, rng: np.random.Generator, rows: int) -> np.ndarray:
    if family == "normal":
        return rng.normal(float(i), _family_std(family, i), rows)
    if family == "lognormal":
        return rng.lognormal(0.0, LOGNORMAL_SIGMA, rows)
    if family == "uniform":
        return rng.uniform(0.0, UNIFORM_HIGH, rows)
    if family == "poisson":
        return rng.poisson(POISSON_LAM, rows)
    return rng.exponential(EXPONENTIAL_SCALE, rows)


def _numeric_change(i: int, family: str) -> tuple[str, float, float]:
    """(description, location shift in the column's units, scale factor about the mean)."""
    std = _family_std(family, i)
    if i < 5 or i in SMALL:
        delta = SHIFT_DRIFT if i < 5 else SHIFT_SMALL
        shift = delta * std
        if family == "poisson":  # keep it integer
            shift = float(round(shift))
        return f"shift {delta} std", shift, 1.0
    if i == 5:
        return f"scale x{SCALE}", 0.0, SCALE
    return "none", 0.0, 1.0


def _numeric(i: int, rows: int) -> tuple[Column, pl.Series, pl.Series]:
    family = FAMILIES[i % len(FAMILIES)]
    name = f"num_{i:02d}"
    change, shift, scale = _numeric_change(i, family)
    sides = []
    for side in (0, 1):
        rng = np.random.default_rng([SEED, i, side])
        values = _draw(family, i, rng, rows).astype(np.float64)
        if side == 1:
            values = float(i) + (values - float(i)) * scale + shift  # scale kept for normal only
        if i % 10 == 9:
            values[rng.random(rows) < NUMERIC_NULLS] = np.nan
        series = pl.Series(name, values, nan_to_null=True)
        sides.append(series.cast(pl.Int64) if family == "poisson" else series)
    std = _family_std(family, i)
    expected = abs(shift) / std + abs(scale - 1) * math.sqrt(2 / math.pi)
    return Column(name, False, family, change, expected), sides[0], sides[1]


def _categorical_probabilities(j: int) -> tuple[list[str], np.ndarray, np.ndarray, str]:
    k = CARDINALITIES[j]
    labels = [f"c{j}_{v:04d}" for v in range(k)]
    reference = (np.arange(k) + 1.0) ** -0.8
    reference /= reference.sum()
    current = reference.copy()
    change = "none"
    if j == 0:
        current, change = reference[::-1].copy(), "frequencies reversed"
    elif j == 1:
        labels.append(f"c{j}_new")
        reference = np.append(reference, 0.0)
        current = np.append(reference[:-1] * 0.85, 0.15)
        change = "new category, 15 % of rows"
    elif j == 2:
        current = (1 - MIXED) * reference + MIXED / k
        change = f"{MIXED:.0%} mixed with uniform"
    elif j == 7:
        current[:10] = np.roll(reference[:10], 1)
        change = "top 10 frequencies rotated"
    return labels, reference, current, change


def _categorical(j: int, rows: int) -> tuple[Column, pl.Series, pl.Series]:
    name = f"cat_{j}"
    labels, reference, current, change = _categorical_probabilities(j)
    categories = pl.Series(name, labels)
    sides = []
    for side, probabilities in ((0, reference), (1, current)):
        rng = np.random.default_rng([SEED, NUMERIC + j, side])
        codes = pl.Series(rng.choice(len(labels), size=rows, p=probabilities), dtype=pl.UInt32)
        values = categories.gather(codes)
        if j == CATEGORICAL - 1:
            values = values.scatter(np.flatnonzero(rng.random(rows) < CATEGORICAL_NULLS), None)
        sides.append(values)
    expected = float(jensenshannon(reference, current))
    return Column(name, True, "zipf", change, expected), sides[0], sides[1]


def generate(out: Path, rows: int) -> dict[str, object]:
    """Write reference.parquet, current.parquet and columns.json into `out`."""
    built = [_numeric(i, rows) for i in range(NUMERIC)]
    built += [_categorical(j, rows) for j in range(CATEGORICAL)]
    out.mkdir(parents=True, exist_ok=True)
    reference = pl.DataFrame([ref for _, ref, _ in built])
    current = pl.DataFrame([cur for _, _, cur in built])
    reference.write_parquet(out / "reference.parquet")
    current.write_parquet(out / "current.parquet")
    meta = {"version": VERSION, "seed": SEED, "rows": rows,
            "columns": [asdict(column) for column, _, _ in built]}
    (out / "columns.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def data_dir(rows: int) -> Path:
    return OUT / "monitoring" / f"data-{rows}r-s{SEED}-v{VERSION}"


def columns(directory: Path) -> list[Column]:
    """The generated columns, as written in `columns.json`."""
    meta = json.loads((directory / "columns.json").read_text())
    return [Column(**column) for column in meta["columns"]]


def ensure_data(rows: int) -> Path:
    """The data set's directory, generated once (in a child process) and then cached."""
    directory = data_dir(rows)
    if not (directory / "columns.json").is_file():
        m = run_phase("bench.monitoring.data", [str(directory), str(rows)])
        print(f"  generated 2 x {rows:,} rows in {m.wall_s:.0f} s (peak "
              f"{fmt_bytes(m.peak_rss)}) -> {directory}", flush=True)
    return directory


def main(argv: Sequence[str]) -> None:
    out, rows = Path(argv[0]), int(argv[1])
    watch = Stopwatch()
    with watch.lap("generate"):
        generate(out, rows)
    emit(watch.result(rows=rows))


if __name__ == "__main__":
    main(sys.argv[1:])
