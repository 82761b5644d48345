"""Which model versions each endpoint serves, kept in step with the registry's aliases.

A `Deployment` is immutable and replaced whole when an alias moves, so a request (or a batch of
them) scored against one deployment never mixes the versions before and after the move, and no
request waits for a model to load: the new versions are loaded first, then swapped in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import polars as pl
from mlflow import MlflowClient

from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.ml.registry import CHALLENGER, CHAMPION, alias_version
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.serving.model import ServedModel, load_model
from lakehouse_ml.serving.request import RequestSchema

log = logging.getLogger(__name__)


class NoChampion(RuntimeError):
    """An endpoint's registered model has no champion version to serve."""


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    champion: ServedModel
    challenger: ServedModel | None
    challenger_share: float
    """Share of keys routed to the challenger (0 when there is none)."""
    request: RequestSchema
    """What a request may carry: keys, or every input of every model served."""

    @classmethod
    def of(cls, endpoint: str, champion: ServedModel, challenger: ServedModel | None,
           share: float) -> Deployment:
        models = [champion, *([challenger] if challenger else [])]
        keys = {c: d for m in models for c, d in m.keys.items()}
        features = {c: d for m in models for c, d in m.features.items()}
        non_finite = frozenset(f for f in features  # allowed by every model that reads it
                               if all(f in m.non_finite for m in models if f in m.features))
        request = RequestSchema(pl.Schema(keys), pl.Schema(features), non_finite)
        return cls(endpoint, champion, challenger, share if challenger else 0.0, request)

    @property
    def models(self) -> list[ServedModel]:
        return [self.champion, *([self.challenger] if self.challenger else [])]

    @property
    def versions(self) -> tuple[int, int | None]:
        return self.champion.version, self.challenger.version if self.challenger else None

    def describe(self) -> dict[str, object]:
        return {
            "model": self.champion.name, "champion": self.champion.version,
            "challenger": self.challenger.version if self.challenger else None,
            "challenger_share": self.challenger_share,
            "fast_path": {m.version: m.fast for m in self.models},
            "fast_path_reason": {m.version: m.slow_reason for m in self.models},
        }


class Deployments:
    """The current deployment of every endpoint; `refresh` polls the registry. `authorize`
    (registered model name, version) raises before a version is loaded if it may not be."""

    def __init__(
        self, features: FeatureEngineeringClient, registry: MlflowClient,
        endpoints: Mapping[str, ModelSpec], challenger_share: float,
        authorize: Callable[[str, int], None] = lambda name, version: None,
    ) -> None:
        self._features, self._registry, self._authorize = features, registry, authorize
        self._models = {e: s.registered_name(features.catalog.env) for e, s in endpoints.items()}
        self._share = challenger_share
        self._current: dict[str, Deployment] = {}
        self._lock = threading.Lock()
        """Serializes refreshes (startup and the poller); readers never take it."""

    def get(self, endpoint: str) -> Deployment | None:
        return self._current.get(endpoint)

    @property
    def endpoints(self) -> list[str]:
        return list(self._models)

    def refresh(self) -> None:
        """Load and swap in what the aliases point to now; keep serving the old deployment of an
        endpoint whose new versions fail to load. Raises NoChampion for an endpoint that has
        none and was never deployed."""
        with self._lock:
            for endpoint, name in self._models.items():
                try:
                    self._refresh(endpoint, name)
                except Exception as error:
                    if endpoint not in self._current:
                        raise
                    log.warning("%s: still serving versions %s: %s", name,
                                self._current[endpoint].versions, error,
                                exc_info=not isinstance(error, NoChampion))

    def _refresh(self, endpoint: str, name: str) -> None:
        champion = alias_version(self._registry, name, CHAMPION)
        if champion is None:
            raise NoChampion(f"{name} has no {CHAMPION} alias: deploy a model before serving")
        challenger = alias_version(self._registry, name, CHALLENGER)
        if challenger == champion:
            challenger = None
        current = self._current.get(endpoint)
        if current is not None and current.versions == (champion, challenger):
            return
        loaded = {m.version: m for m in current.models} if current else {}
        deployment = Deployment.of(
            endpoint, self._load(loaded, name, champion),
            None if challenger is None else self._load(loaded, name, challenger), self._share,
        )
        self._current[endpoint] = deployment
        log.info("endpoint %s now serves %s", endpoint, deployment.describe())

    def _load(self, loaded: dict[int, ServedModel], name: str, version: int) -> ServedModel:
        if version in loaded:
            return loaded[version]
        self._authorize(name, version)
        return load_model(self._features, name, version)
