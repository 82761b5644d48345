"""Unity-Catalog-style namespace: names, locations and table metadata."""

from lakehouse_ml.catalog.catalog import Catalog, TableNotFound
from lakehouse_ml.catalog.names import InvalidTableName, TableName
from lakehouse_ml.catalog.registry import RegisteredTable, TableInfo

__all__ = [
    "Catalog", "InvalidTableName", "RegisteredTable", "TableInfo", "TableName", "TableNotFound",
]
