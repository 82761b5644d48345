"""Lakehouse Monitoring: profile and drift metric tables per monitored table, model quality
(realized and estimated before labels arrive), drift levels for checks and the retraining
sensor. Plain Python over the catalog; the Dagster glue lives in `lakehouse_ml.defs`."""
