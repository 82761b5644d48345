"""Online feature serving: per key the rows lookups from the publication on need, fast."""

from lakehouse_ml.features.online.publish import (
    MAX_FUTURE_ROWS,
    PublishReport,
    publish,
    rows_to_publish,
)
from lakehouse_ml.features.online.reader import KeyBatch, OnlineReader
from lakehouse_ml.features.online.redis_store import RedisStore
from lakehouse_ml.features.online.sqlite_store import SQLiteStore
from lakehouse_ml.features.online.store import OnlineStore, default_store

__all__ = [
    "MAX_FUTURE_ROWS", "KeyBatch", "OnlineReader", "OnlineStore", "PublishReport",
    "RedisStore", "SQLiteStore", "default_store", "publish", "rows_to_publish",
]
