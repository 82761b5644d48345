"""Delta Lake storage engine (delta-rs): the only package that imports `deltalake`."""

from lakehouse_ml.lake.schema import SchemaMismatchError, conform
from lakehouse_ml.lake.tables import ROW_GROUP_ROWS, Lake, Version

__all__ = ["ROW_GROUP_ROWS", "Lake", "SchemaMismatchError", "Version", "conform"]
