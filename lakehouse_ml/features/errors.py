"""Errors the feature store raises, each naming the columns or tables at fault."""

from __future__ import annotations


class FeatureStoreError(ValueError):
    """Base class: a request the feature store refuses before reading or writing anything."""


class DuplicateKeyError(FeatureStoreError):
    """Two rows of a write share the same primary key (and timestamp)."""


class TimestampError(FeatureStoreError):
    """A timestamp column is naive (no time zone), null where it may not be, or not a time."""


class KeyTypeError(FeatureStoreError):
    """A lookup key's dtype does not match the feature table's primary key dtype."""


class FeatureCollisionError(FeatureStoreError):
    """Two outputs of a training set would get the same column name."""
