"""The churn use case: its medallion assets, daily refresh and weekly maintenance."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.defs.factories.jobs import daily_refresh, weekly_maintenance
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.domains.churn import DOMAIN


@dg.definitions
def churn() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.Definitions(assets=medallion_assets(DOMAIN)),
        daily_refresh(DOMAIN, daily_partitions(DOMAIN)),
        weekly_maintenance(DOMAIN),
    )
