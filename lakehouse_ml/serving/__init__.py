"""Model serving: an HTTP endpoint per registered model, champion/challenger split by key,
online feature lookup, bearer tokens, and every request kept in `<schema>.inference_log`.

Import from the modules (`server`, `config`, `tokens`, ...): this package imports nothing, so
that `lakehouse-ml token ...` does not pay for FastAPI and MLflow.
"""
