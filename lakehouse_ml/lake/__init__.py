"""Delta Lake storage engine (delta-rs): the only package that imports `deltalake`."""

from lakehouse_ml.lake.schema import SchemaMismatchError, conform
from lakehouse_ml.lake.tables import Lake, Version

__all__ = ["Lake", "SchemaMismatchError", "Version", "conform"]
