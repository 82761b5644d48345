"""A run waiting for a concurrency pool slot sleeps instead of spinning a core (Dagster 1.13.27).

A step whose pool has no free slot is retried after a back-off Dagster computes (1 s, growing
to 15 s); between tries the in-process executor sleeps `ActiveExecution.sleep_interval()`,
which takes `InstanceConcurrencyContext.interval_to_next_pending_claim_check()`. In Dagster
1.13.27 that returns `min([0, *time_left])`, never above 0, so the executor never sleeps: the
waiting run re-enters its loop without pause and keeps a core busy for as long as another run
holds the slot (two trainings of one model in pool `train_<model>`: the waiting process used
5.0 CPU-s instead of 1.3). dagster-io/dagster PR 20367 proposed the fix and was closed.

`apply()` replaces that method by the time left until the earliest pending claim may be tried
again (never below 0): the same tries at the same moments, with the waits slept. It checks
Dagster's version and the method it replaces: on another version it does nothing (a fixed or
changed Dagster keeps its own), so an upgrade is not blocked, and
tests/test_pool_wait.py fails if a run waiting for a slot spins again. Applied when
`lakehouse_ml.dagster_storage` is imported, i.e. by every process whose instance uses the
project's storage (`dagster.yaml`)."""

from __future__ import annotations

import time

import dagster
from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)

FIXED_IN_THIS_VERSION = "1.13.27"
"""The Dagster version whose method is replaced (see the module docstring)."""
_ORIGINAL = InstanceConcurrencyContext.interval_to_next_pending_claim_check


def interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    """Seconds until the earliest pending claim's back-off ends (0: try now, or none pending)."""
    if not self._pending_claims:
        return 0.0
    now = time.time()
    return max(0.0, min((ready_at - now for ready_at in self._pending_timeouts.values()),
                        default=0.0))


def apply() -> bool:
    """Replace the method on Dagster 1.13.27 (once); True if the replacement is in place."""
    if dagster.__version__ != FIXED_IN_THIS_VERSION:
        return False
    current = InstanceConcurrencyContext.interval_to_next_pending_claim_check
    if current is not _ORIGINAL and current is not interval_to_next_pending_claim_check:
        return False  # someone else's replacement: leave it
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = (  # type: ignore[method-assign]
        interval_to_next_pending_claim_check)
    return True
