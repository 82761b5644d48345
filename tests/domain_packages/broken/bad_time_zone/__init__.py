"""A domain package whose declaration fails validation in one of its modules: an aggregate's
time zone that does not exist."""

from datetime import date

from lakehouse_ml.medallion.spec import Domain
from tests.boundary_domain import READINGS

from .gold import DAILY

DOMAIN = Domain(name="bad_time_zone", description="On Mars.", start_date=date(2026, 1, 1),
                sources=(READINGS,), aggregates=(DAILY,))
