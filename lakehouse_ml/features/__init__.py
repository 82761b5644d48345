"""Feature store: feature tables, point-in-time training sets and online serving.

`FeatureEngineeringClient` is the entry point; `FeatureLookup` and `FeatureFunction` declare
which features a training set or a request gets.
"""

from lakehouse_ml.features.client import FeatureEngineeringClient
from lakehouse_ml.features.errors import (
    DuplicateKeyError,
    FeatureCollisionError,
    FeatureStoreError,
    KeyTypeError,
    TimestampError,
)
from lakehouse_ml.features.functions import FeatureFunction, apply_functions
from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.features.online import PublishReport
from lakehouse_ml.features.table import Feature, FeatureTable
from lakehouse_ml.features.timestamps import snapshot_stamps, snapshot_time
from lakehouse_ml.features.training_set import TrainingSet

__all__ = [
    "DuplicateKeyError", "Feature", "FeatureCollisionError", "FeatureEngineeringClient",
    "FeatureFunction", "FeatureLookup", "FeatureStoreError", "FeatureTable", "KeyTypeError",
    "PublishReport", "TimestampError", "TrainingSet", "apply_functions", "snapshot_stamps",
    "snapshot_time",
]
