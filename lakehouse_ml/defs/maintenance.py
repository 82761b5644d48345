"""`catalog_maintenance`: every table of the catalog, whichever domain (or none) owns it."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.defs.factories.jobs import catalog_maintenance
from lakehouse_ml.domains import declared_domains


@dg.definitions
def maintenance() -> dg.Definitions:
    return catalog_maintenance(declared_domains())
