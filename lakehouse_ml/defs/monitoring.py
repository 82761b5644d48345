"""`failed_runs_sensor`: every failed run of the code location, whichever domain it belongs to,
recorded in `monitoring.failed_runs` (defined once here, not per domain)."""

from __future__ import annotations

import dagster as dg

from lakehouse_ml.defs.factories.sensors import failed_runs_sensor


@dg.definitions
def monitoring() -> dg.Definitions:
    return dg.Definitions(sensors=[failed_runs_sensor()])
