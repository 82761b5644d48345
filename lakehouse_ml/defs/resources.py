"""The one resource every asset uses: where the lakehouse and the landing zone are."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings


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


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"lakehouse": LakehouseResource.from_settings()})
