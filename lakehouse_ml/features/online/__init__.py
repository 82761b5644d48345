"""Online feature serving: the latest row per key of a feature table, by key, fast."""

from lakehouse_ml.features.online.publish import PublishReport, publish
from lakehouse_ml.features.online.reader import KeyBatch, OnlineReader
from lakehouse_ml.features.online.redis_store import RedisStore
from lakehouse_ml.features.online.sqlite_store import SQLiteStore
from lakehouse_ml.features.online.store import OnlineStore, default_store

__all__ = [
    "KeyBatch", "OnlineReader", "OnlineStore", "PublishReport", "RedisStore", "SQLiteStore",
    "default_store", "publish",
]
