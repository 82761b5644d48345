"""`catalog_maintenance`: every table of the catalog, whichever domain (or none) owns it.

In no Dagster pool, unlike the steps writing one table (`names.write_pool`): its one op
OPTIMIZEs and VACUUMs every table, and an op has one pool. Its schedule (Sundays 05:00 UTC)
comes after the daily refresh (02:00) and the domains' maintenance (03:00); started by hand
while a refresh writes a table, one of the two commits to that table may fail."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.defs.factories.jobs import catalog_maintenance
from lakehouse_ml.domains import declared_domains


@dg.definitions
def maintenance() -> dg.Definitions:
    return catalog_maintenance(declared_domains())
