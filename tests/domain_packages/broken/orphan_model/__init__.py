"""A domain package that imports cleanly but declares a model on a training set the domain
does not declare (churn's model, without churn's training set)."""

from datetime import date

from lakehouse_ml.domains.churn import MODELS as CHURN_MODELS
from lakehouse_ml.medallion.spec import Domain

DOMAIN = Domain(name="orphan", description="A model without its data.",
                start_date=date(2026, 1, 1), sources=())
MODELS = tuple(CHURN_MODELS)
