"""`lakehouse-ml`: generate demo data, run the pipeline, and look at tables."""

from lakehouse_ml.cli.app import app

__all__ = ["app"]
