"""Online lookup latency: p50/p99 of get_online_features for 1 and 100 keys, SQLite and Redis.

    python -m bench.training_set.online --keys 100000 --calls 2000

Redis is measured on REDIS_URL if set, else on a redis-server started here (if installed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.online import OnlineStore, RedisStore, SQLiteStore

TABLE = "gold.online_bench"


def _frame(keys: int, features: int) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    return pl.DataFrame({
        "entity_id": np.arange(keys),
        "ts": pl.Series(np.full(keys, 1_750_000_000_000_000)).cast(pl.Datetime("us", "UTC")),
        **{f"f{j}": rng.random(keys) for j in range(features)},
    })


@contextmanager
def _redis_url() -> Iterator[str | None]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait()


def _latencies(fe: FeatureEngineeringClient, keys: int, batch: int, calls: int) -> dict:
    rng = np.random.default_rng(batch)
    fe.get_online_features(TABLE, [0])  # warm the connection and the snapshot cache
    samples = []
    for _ in range(calls):
        wanted = rng.integers(0, keys, batch).tolist()
        started = time.perf_counter_ns()
        fe.get_online_features(TABLE, wanted)
        samples.append((time.perf_counter_ns() - started) / 1e6)
    p50, p99 = np.percentile(samples, [50, 99])
    return {"p50_ms": round(float(p50), 3), "p99_ms": round(float(p99), 3)}


def _measure(store: OnlineStore, catalog: Catalog, frame: pl.DataFrame, calls: int) -> dict:
    fe = FeatureEngineeringClient(catalog, online_store=store)
    started = time.perf_counter()
    fe.publish_table(TABLE)
    published = time.perf_counter() - started
    report = {
        "publish_seconds": round(published, 2),
        "1_key": _latencies(fe, frame.height, 1, calls),
        "100_keys": _latencies(fe, frame.height, 100, max(calls // 10, 50)),
    }
    fe.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    frame = _frame(args.keys, args.features)
    with tempfile.TemporaryDirectory() as root:
        catalog = Catalog(root, "bench")
        sqlite = SQLiteStore(Path(root) / "online")
        FeatureEngineeringClient(catalog, online_store=sqlite).create_table(
            TABLE, "entity_id", timeseries_column="ts", df=frame
        )
        report = {"keys": args.keys, "features": args.features, "calls": args.calls,
                  "sqlite": _measure(sqlite, catalog, frame, args.calls)}
        with _redis_url() as url:
            report["redis"] = url and _measure(RedisStore(url), catalog, frame, args.calls)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
