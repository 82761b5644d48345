"""Factories that turn declarations into Dagster definitions."""
