"""Resources: where the lakehouse and landing zone are, and where MLflow keeps models."""

from __future__ import annotations

import dagster as dg
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.ml.registry import use_tracking


class LakehouseResource(dg.ConfigurableResource):
    """Catalog access for assets; configured from `LAKEHOUSE_*` unless set explicitly."""

    root: str
    env: str
    landing: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LakehouseResource:
        settings = settings or Settings.from_env()
        return cls(root=settings.root, env=settings.env, landing=settings.landing)

    def catalog(self) -> Catalog:
        return Catalog(self.root, self.env)


class MlflowResource(dg.ConfigurableResource):
    """The MLflow tracking server and model registry (`MLFLOW_TRACKING_URI`)."""

    tracking_uri: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> MlflowResource:
        return cls(tracking_uri=(settings or Settings.from_env()).mlflow_tracking_uri)

    def client(self) -> MlflowClient:
        return use_tracking(self.tracking_uri)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"lakehouse": LakehouseResource.from_settings(),
                                     "mlflow": MlflowResource.from_settings()})
