"""Score a batch of requests against one deployment: route, look up, predict, split back.

Rows of all requests are scored together (one online lookup and one predict per model), which
is what makes a busy endpoint fast; the answers go back to each request in its row order.
Key-only rows get their features from the model's lookup as of the serving time, so the
features equal the point-in-time join batch scoring does at that time. Rows travel as plain
columns: on the few rows of a request, building frames would cost more than the model. Each
key-only row also says which feature lookups found no row for its key (from the same read).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.predictor import Columns
from lakehouse_ml.serving.request import Request
from lakehouse_ml.serving.routing import to_challenger


@dataclass(frozen=True)
class Scored:
    probabilities: list[float]
    versions: list[int]
    """The model version that scored each row."""
    as_of: datetime | None
    """The time features were looked up as of (None for full feature rows)."""
    unmatched: list[list[str]]
    """Per row, the feature tables whose lookup found no row for its key (empty for full
    feature rows)."""

    @classmethod
    def concat(cls, parts: Sequence[Scored]) -> Scored:
        """The parts of one request (its chunks), in order."""
        if len(parts) == 1:
            return parts[0]
        return cls([p for s in parts for p in s.probabilities],
                   [v for s in parts for v in s.versions], parts[0].as_of,
                   [u for s in parts for u in s.unmatched])

    @property
    def unmatched_rows(self) -> list[int]:
        return [row for row, tables in enumerate(self.unmatched) if tables]


@dataclass(frozen=True)
class _Part:
    """The rows of one kind (key-only or full) of all requests, and their batch positions."""

    columns: Columns
    positions: np.ndarray

    @classmethod
    def of(cls, requests: Sequence[Request], starts: Sequence[int], lookup: bool,
           names: Sequence[str]) -> _Part:
        chosen = [(r, s) for r, s in zip(requests, starts, strict=True) if r.lookup == lookup]
        if not chosen:
            return cls({}, np.empty(0, dtype=np.int64))
        columns = {n: [v for r, _ in chosen for v in r.columns[n]] for n in names}
        return cls(columns, np.concatenate([np.arange(s, s + r.rows) for r, s in chosen]))

    def rows(self, served: np.ndarray) -> _Part:
        """The rows `served` (a mask over the whole batch) selects."""
        mine = served[self.positions]
        if mine.all():
            return self
        return _Part({n: [v for v, m in zip(c, mine, strict=True) if m]
                      for n, c in self.columns.items()}, self.positions[mine])


def _routes(deployment: Deployment, requests: Sequence[Request]) -> np.ndarray:
    keys = list(deployment.request.keys)
    flags: list[bool] = []
    for request in requests:
        carried = all(k in request.columns for k in keys)
        rows = list(zip(*(request.columns[k] for k in keys), strict=True)) if carried else None
        flags += to_challenger(rows, request.rows, deployment.challenger_share)
    return np.array(flags, dtype=bool)


def score(deployment: Deployment, requests: Sequence[Request]) -> list[Scored]:
    """Requests without a lookup time are looked up as of now; the chunks of a split request
    as of the time it came in (so a batch may have a few lookup times)."""
    now = datetime.now(UTC)
    times: dict[datetime, list[int]] = {}
    for index, request in enumerate(requests):
        times.setdefault(request.at or now, []).append(index)
    if len(times) == 1:
        return _score(deployment, requests, next(iter(times)))
    scored: dict[int, Scored] = {}
    for at, indexes in times.items():
        group = [requests[i] for i in indexes]
        scored |= zip(indexes, _score(deployment, group, at), strict=True)
    return [scored[i] for i in range(len(requests))]


def _score(deployment: Deployment, requests: Sequence[Request], now: datetime
           ) -> list[Scored]:
    starts = np.cumsum([0, *(r.rows for r in requests)]).tolist()
    challenger = _routes(deployment, requests)
    keyed = _Part.of(requests, starts[:-1], True, list(deployment.request.keys))
    full = _Part.of(requests, starts[:-1], False, list(deployment.request.features))
    probabilities = np.empty(starts[-1])
    versions = np.empty(starts[-1], dtype=np.int64)
    unmatched: list[list[str]] = [[] for _ in range(starts[-1])]
    for model, served in ((deployment.champion, ~challenger), (deployment.challenger, challenger)):
        if model is None or not served.any():
            continue
        keys, rows = keyed.rows(served), full.rows(served)
        parts = [p for p in (keys, rows) if p.positions.size]
        if keys.positions.size:
            features, missing = model.lookup(keys.columns, now)
            parts[0] = _Part(features, keys.positions)
            for position, tables in zip(keys.positions.tolist(), missing, strict=True):
                unmatched[position] = tables
        columns = parts[0].columns if len(parts) == 1 else {
            f: [v for p in parts for v in p.columns[f]] for f in model.features}
        positions = np.concatenate([p.positions for p in parts])
        probabilities[positions] = model.predict(columns)
        versions[positions] = model.version
    return [
        Scored(probabilities[a:b].tolist(), versions[a:b].tolist(), now if r.lookup else None,
               unmatched[a:b])
        for r, a, b in zip(requests, starts[:-1], starts[1:], strict=True)
    ]


def score_each(deployment: Deployment, requests: Sequence[Request]
               ) -> list[Scored | Exception]:
    """`score`, but a request that fails fails alone: on an error the batch is rescored one
    request at a time."""
    try:
        return list(score(deployment, requests))
    except Exception as error:
        if len(requests) == 1:
            return [error]
    results: list[Scored | Exception] = []
    for request in requests:
        try:
            results.extend(score(deployment, [request]))
        except Exception as error:
            results.append(error)
    return results
