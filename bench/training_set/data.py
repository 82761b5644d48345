"""Synthetic benchmark data: labels and time-series feature tables written through the client.

Keys are uniform over `keys` entities and timestamps uniform over one year (microseconds), so
every feature table has about `rows / keys` snapshots per key at irregular times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_US = 365 * 24 * 3600 * 10**6
ENV = "bench"
LABELS = "bench.labels"
KEY = "entity_id"


@dataclass(frozen=True)
class Sizes:
    labels: int
    rows: int
    tables: int
    features: int
    keys: int
    seed: int = 7

    def table(self, i: int) -> str:
        return f"bench.features_{i}"

    def feature(self, i: int, j: int) -> str:
        return f"t{i}_f{j}"

    def lookups(self, window: timedelta | None) -> list[FeatureLookup]:
        return [
            FeatureLookup(self.table(i), KEY, "label_time", lookback_window=window)
            for i in range(self.tables)
        ]


def _times(rng: np.random.Generator, n: int) -> pl.Series:
    start = int(START.timestamp() * 10**6)
    return pl.Series(start + rng.integers(0, SPAN_US, n)).cast(pl.Datetime("us", "UTC"))


def feature_frame(sizes: Sizes, i: int) -> pl.DataFrame:
    rng = np.random.default_rng(sizes.seed + 1 + i)
    frame = pl.DataFrame({
        KEY: rng.integers(0, sizes.keys, sizes.rows), "ts": _times(rng, sizes.rows),
        **{sizes.feature(i, j): rng.random(sizes.rows) for j in range(sizes.features)},
    })
    return frame.unique([KEY, "ts"], keep="first")  # the rare repeated (key, microsecond)


def label_frame(sizes: Sizes) -> pl.DataFrame:
    rng = np.random.default_rng(sizes.seed)
    return pl.DataFrame({
        KEY: rng.integers(0, sizes.keys, sizes.labels), "label_time": _times(rng, sizes.labels),
        "label": rng.integers(0, 2, sizes.labels),
    })


def client(workdir: Path) -> FeatureEngineeringClient:
    return FeatureEngineeringClient(Catalog(str(workdir / "lakehouse"), ENV))


def generate(workdir: Path, sizes: Sizes) -> dict[str, float]:
    """Write labels and feature tables (skipped if this exact size is already there)."""
    marker = workdir / "sizes.json"
    if marker.exists() and marker.read_text() == repr(asdict(sizes)):
        return {}
    fe = client(workdir)
    labels = label_frame(sizes)
    fe.catalog.create_table(LABELS, labels.schema, TableInfo(owner="bench"))
    fe.catalog.overwrite(LABELS, labels)
    seconds = {}
    for i in range(sizes.tables):
        frame = feature_frame(sizes, i)
        started = datetime.now(UTC)
        fe.create_table(sizes.table(i), KEY, timeseries_column="ts", df=frame, owner="bench")
        seconds[sizes.table(i)] = (datetime.now(UTC) - started).total_seconds()
        del frame
    marker.write_text(repr(asdict(sizes)))
    return seconds


def export_parquet(workdir: Path, sizes: Sizes) -> Path:
    """The same data as Parquet files, for peers that cannot read Delta (Feast)."""
    out = workdir / "parquet"
    out.mkdir(exist_ok=True)
    fe = client(workdir)
    fe.catalog.read(LABELS).write_parquet(out / "labels.parquet")
    for i in range(sizes.tables):
        fe.read_table(sizes.table(i)).write_parquet(out / f"features_{i}.parquet")
    return out
