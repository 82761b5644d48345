"""The churn use case: medallion and feature assets, daily refresh and weekly maintenance."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.jobs import daily_refresh, weekly_maintenance
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.factories.training import training_job, training_set_asset
from lakehouse_ml.domains.churn import DOMAIN


@dg.definitions
def churn() -> dg.Definitions:
    partitions = daily_partitions(DOMAIN)
    return dg.Definitions.merge(
        dg.Definitions(assets=[*medallion_assets(DOMAIN), *feature_assets(DOMAIN, partitions),
                               training_set_asset(DOMAIN.training_set)]),
        training_job(DOMAIN.training_set),
        daily_refresh(DOMAIN, partitions),
        weekly_maintenance(DOMAIN),
    )
