"""The churn use case: sources, contracts, aggregates, the classifier, its monitors and
retraining policy, and the demo data generator."""

from __future__ import annotations

import os
from datetime import date

from lakehouse_ml.domains.churn.aggregates import AGGREGATES
from lakehouse_ml.domains.churn.features import FEATURE_TABLES
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.domains.churn.monitors import MONITORS, RETRAINING
from lakehouse_ml.domains.churn.sources import SOURCES
from lakehouse_ml.domains.churn.training import TRAINING_SET
from lakehouse_ml.medallion.spec import Domain

DOMAIN = Domain(
    name="churn",
    description="Customer churn: who will stop using the product in the next 30 days.",
    start_date=date.fromisoformat(os.environ.get("LAKEHOUSE_START_DATE", "2026-01-01")),
    sources=SOURCES,
    aggregates=AGGREGATES,
    feature_tables=FEATURE_TABLES,
    training_set=TRAINING_SET,
)

MODELS = (MODEL,)

__all__ = ["DOMAIN", "MODELS", "MONITORS", "RETRAINING"]
