"""A domain package that imports cleanly but declares an aggregate and a feature table with one
name (both `gold.hottest`): Dagster would refuse the duplicate asset key at load."""

from datetime import date

from lakehouse_ml.medallion.spec import Domain, FeatureTableSpec
from tests.boundary_domain import HOTTEST, READINGS

SNAPSHOTS = FeatureTableSpec(
    name="hottest", description="Named like the aggregate.", entity_keys=("day",),
    timestamp_key="feature_ts", inputs=("gold.hottest",), build=lambda gold, days: gold,
    features=())

DOMAIN = Domain(name="twice", description="Hottest, twice.", start_date=date(2026, 1, 1),
                sources=(READINGS,), aggregates=(HOTTEST,), feature_tables=(SNAPSHOTS,))
