"""Feast peer: the same point-in-time join with Feast's file offline store (dask).

Run by the Python of a separate virtualenv holding feast==0.67.0 (see setup_feast.sh), never
the project's. Reads the Parquet exports of the benchmark data; prints one JSON line.

    /tmp/feast-venv/bin/python bench/training_set/feast_peer.py --data DIR --tables 3
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig
from feast.types import Float64

KEY = "entity_id"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--tables", type=int, required=True)
    parser.add_argument("--window-days", type=float, default=0.0, help="0: no lookback (ttl 0)")
    parser.add_argument("--repo", type=Path, default=Path("/tmp/feast-bench-repo"))
    args = parser.parse_args()

    shutil.rmtree(args.repo, ignore_errors=True)
    args.repo.mkdir(parents=True)
    store = FeatureStore(config=RepoConfig(
        project="bench", provider="local", registry=str(args.repo / "registry.db"),
        repo_path=str(args.repo), offline_store={"type": "file"},
        online_store={"type": "sqlite", "path": str(args.repo / "online.db")},
        entity_key_serialization_version=3,
    ))
    entity = Entity(name="entity", join_keys=[KEY])
    views, refs = [], []
    for i in range(args.tables):
        path = args.data / f"features_{i}.parquet"
        names = [n for n in pq.read_schema(path).names if n not in (KEY, "ts")]
        view = FeatureView(
            name=f"features_{i}", entities=[entity],
            ttl=timedelta(days=args.window_days),  # timedelta(0) means no limit in Feast
            schema=[Field(name=n, dtype=Float64) for n in names],
            source=FileSource(path=str(path), timestamp_field="ts"),
        )
        views.append(view)
        refs += [f"features_{i}:{n}" for n in names]
    store.apply([entity, *views])

    labels = pd.read_parquet(args.data / "labels.parquet").rename(
        columns={"label_time": "event_timestamp"}
    )
    started = time.perf_counter()
    frame = store.get_historical_features(entity_df=labels, features=refs).to_df()
    seconds = time.perf_counter() - started
    firsts = [f"t{i}_f0" for i in range(args.tables)]
    print(json.dumps({
        "seconds": round(seconds, 3), "rows": len(frame),
        "matched": [int(frame[c].notna().sum()) for c in firsts],
        "checksum": [round(float(frame[c].sum()), 2) for c in firsts],
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
        "feast": __import__("feast").__version__,
    }))


if __name__ == "__main__":
    main()
