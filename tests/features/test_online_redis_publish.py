"""A Redis publish killed at any point: readers never see two publications mixed, and the next
publish leaves the store exactly equal to the table's latest rows (real redis-server, SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.online import RedisStore
from lakehouse_ml.features.timestamps import STORED

KEYS = 25_000
TABLE = "gold.fs"
PUBLISH = textwrap.dedent("""
    import pathlib, sys
    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.features import FeatureEngineeringClient
    fe = FeatureEngineeringClient(Catalog(sys.argv[1], "dev"), online_store=sys.argv[2])
    pathlib.Path(sys.argv[3]).touch()
    fe.publish_table("gold.fs")
""")


def rows(salt: int) -> pl.DataFrame:
    """Every key's feature is key + salt: which publication a value comes from shows."""
    keys = pl.int_range(0, KEYS, eager=True)
    return pl.DataFrame({"cid": keys, "ts": pl.repeat(datetime(2026, 3, 1, tzinfo=UTC), KEYS,
                                                      eager=True).cast(STORED),
                         "f": keys + salt})


def salts(fe: FeatureEngineeringClient) -> set[int]:
    """The salts the online store's rows show (one per publication among them)."""
    got = fe.get_online_features(TABLE, pl.DataFrame({"cid": pl.int_range(0, KEYS, eager=True)}))
    return set((got["f"] - got["cid"]).unique().to_list())


class Reader(threading.Thread):
    """Reads every key again and again, recording each read's salts, until stopped."""

    def __init__(self, fe: FeatureEngineeringClient) -> None:
        super().__init__(daemon=True)
        self.fe, self.stop, self.seen = fe, threading.Event(), []

    def run(self) -> None:
        while not self.stop.is_set():
            self.seen.append(salts(self.fe))


def publish_killed_after(root: str, url: str, marker: Path, delay: float | None) -> float:
    """Run a publish in a subprocess and SIGKILL it `delay` s after it starts publishing
    (None: let it finish); returns the seconds it ran from then."""
    marker.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, "-c", PUBLISH, root, url, str(marker)])
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    started = time.monotonic()
    if delay is None:
        assert process.wait(timeout=300) == 0
    else:
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    return time.monotonic() - started


def test_a_publish_killed_anywhere_is_never_seen_mixed_and_the_next_one_repairs(
    redis_url: str, tmp_path: Path
) -> None:
    store = RedisStore(redis_url)
    store._client.flushdb()
    root = str(tmp_path / "lakehouse")
    fe = FeatureEngineeringClient(Catalog(root, "dev"), online_store=store)
    marker = tmp_path / "publishing"
    fe.create_table(TABLE, "cid", rows(0), timeseries_column="ts")
    fe.publish_table(TABLE)
    fe.write_table(TABLE, rows(1))
    duration = publish_killed_after(root, redis_url, marker, None)
    assert salts(fe) == {1}
    held, keys_held = 1, store._client.dbsize()
    for trial, fraction in enumerate((0.1, 0.3, 0.5, 0.7, 0.9), start=2):
        fe.write_table(TABLE, rows(trial))
        reader = Reader(fe)
        reader.start()
        publish_killed_after(root, redis_url, marker, duration * fraction)
        reader.stop.set()
        reader.join()
        mixed = [seen for seen in reader.seen if len(seen) != 1]
        assert not mixed, (fraction, mixed[:3])
        after = salts(fe)
        assert after in ({held}, {trial}), (fraction, after)
        fe.write_table(TABLE, rows(held))  # back to the values the store held before
        report = fe.publish_table(TABLE)
        assert salts(fe) == {held}, (fraction, report)
        assert store._client.dbsize() == keys_held  # nothing the killed publish left behind
    fe.close()
