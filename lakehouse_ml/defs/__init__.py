"""Dagster glue: assets, checks, jobs and schedules built from the domains' declarations."""
