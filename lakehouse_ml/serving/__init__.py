"""Model serving: an HTTP endpoint per registered model, champion/challenger split by key,
online feature lookup, bearer tokens, and every request kept in `<schema>.inference_log`."""

from lakehouse_ml.serving.app import create_app
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.server import serve
from lakehouse_ml.serving.tokens import TokenError, TokenStore

__all__ = ["ServingConfig", "TokenError", "TokenStore", "create_app", "serve"]
