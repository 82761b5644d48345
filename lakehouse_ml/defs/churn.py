"""The churn use case: medallion and feature assets, the training set, the model and its
scores; the daily refresh, the model jobs and the weekly maintenance."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.jobs import daily_refresh, weekly_maintenance
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.factories.model import model_asset, model_jobs, predictions_asset
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.model import MODEL


@dg.definitions
def churn() -> dg.Definitions:
    partitions = daily_partitions(DOMAIN)
    return dg.Definitions.merge(
        dg.Definitions(assets=[
            *medallion_assets(DOMAIN), *feature_assets(DOMAIN, partitions),
            training_set_asset(DOMAIN.training_set), model_asset(MODEL),
            predictions_asset(MODEL, keys_table="silver.customers", key="customer_id",
                              snapshot_table="gold.customer_engagement"),
        ]),
        daily_refresh(DOMAIN, partitions),
        model_jobs(MODEL),
        weekly_maintenance(DOMAIN),
    )
