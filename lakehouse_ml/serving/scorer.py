"""Score a batch of requests against one deployment: route, look up, predict, split back.

Rows of all requests are scored together (one online lookup per training set and one predict
per model), which is what makes a busy endpoint fast; the answers go back to each request in
its row order. Key-only rows get their features from `lookup_online` with the serving time in
the lookups' time columns, so the features equal the point-in-time join batch scoring does at
that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.timestamps import STORED
from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.model import ServedModel
from lakehouse_ml.serving.request import Request
from lakehouse_ml.serving.routing import to_challenger


@dataclass(frozen=True)
class Scored:
    probabilities: list[float]
    versions: list[int]
    """The model version that scored each row."""
    as_of: datetime | None
    """The time features were looked up as of (None for full feature rows)."""


def _stack(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One frame; an integer feature may come as a number in full rows, hence relaxed."""
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")


@dataclass(frozen=True)
class _Part:
    """The rows of one kind (key-only or full) of all requests, and their batch positions."""

    frame: pl.DataFrame
    positions: np.ndarray

    @classmethod
    def of(cls, requests: Sequence[Request], starts: Sequence[int], lookup: bool,
           columns: list[str]) -> _Part:
        chosen = [(r, s) for r, s in zip(requests, starts, strict=True) if r.lookup == lookup]
        if not chosen:
            return cls(pl.DataFrame(), np.empty(0, dtype=np.int64))
        return cls(_stack([r.frame.select(columns) for r, _ in chosen]),
                   np.concatenate([np.arange(s, s + r.frame.height) for r, s in chosen]))

    def rows(self, served: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
        """The rows `served` (a mask over the whole batch) selects: frame and positions."""
        mine = served[self.positions]
        if mine.all():
            return self.frame, self.positions
        return self.frame.filter(pl.Series(mine)), self.positions[mine]


def _routes(deployment: Deployment, requests: Sequence[Request]) -> np.ndarray:
    keys = list(deployment.request.keys)
    flags: list[bool] = []
    for request in requests:
        carried = all(k in request.frame.columns for k in keys)
        flags += to_challenger(request.frame.select(keys).rows() if carried else None,
                               request.frame.height, deployment.challenger_share)
    return np.array(flags, dtype=bool)


def score(
    client: FeatureEngineeringClient, deployment: Deployment, requests: Sequence[Request]
) -> list[Scored]:
    now = datetime.now(UTC)
    starts = np.cumsum([0, *(r.frame.height for r in requests)]).tolist()
    challenger = _routes(deployment, requests)
    keyed = _Part.of(requests, starts[:-1], True, list(deployment.request.keys))
    full = _Part.of(requests, starts[:-1], False, list(deployment.request.features))
    probabilities = np.empty(starts[-1])
    versions = np.empty(starts[-1], dtype=np.int64)
    looked_up: dict[int, _Part] = {}
    for model, served in ((deployment.champion, ~challenger), (deployment.challenger, challenger)):
        if model is None or not served.any():
            continue
        parts = [_features(client, model, keyed, now, looked_up).rows(served), full.rows(served)]
        frame = _stack([f.select(list(model.features)) for f, p in parts if p.size])
        positions = np.concatenate([p for _, p in parts])
        probabilities[positions] = model.predict(frame)
        versions[positions] = model.version
    return [
        Scored(probabilities[a:b].tolist(), versions[a:b].tolist(), now if r.lookup else None)
        for r, a, b in zip(requests, starts[:-1], starts[1:], strict=True)
    ]


def score_each(
    client: FeatureEngineeringClient, deployment: Deployment, requests: Sequence[Request]
) -> list[Scored | Exception]:
    """`score`, but a request that fails fails alone: on an error the batch is rescored one
    request at a time."""
    try:
        return list(score(client, deployment, requests))
    except Exception as error:
        if len(requests) == 1:
            return [error]
    results: list[Scored | Exception] = []
    for request in requests:
        try:
            results.extend(score(client, deployment, [request]))
        except Exception as error:
            results.append(error)
    return results


def _features(
    client: FeatureEngineeringClient, model: ServedModel, keyed: _Part, now: datetime,
    looked_up: dict[int, _Part],
) -> _Part:
    """All key-only rows with the features of `model`'s training set, looked up once per
    training set (champion and challenger usually share one)."""
    if not keyed.positions.size:
        return keyed
    spec = model.training_set
    if id(spec) not in looked_up:
        timed = keyed.frame.with_columns(
            pl.lit(now, dtype=STORED).alias(t) for t in model.time_columns)
        features = client.lookup_online(timed, list(spec.feature_lookups))
        looked_up[id(spec)] = _Part(features, keyed.positions)
    return looked_up[id(spec)]
