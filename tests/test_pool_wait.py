"""A run waiting for a concurrency pool slot sleeps between its tries instead of spinning a core
(`lakehouse_ml.dagster_pool_wait`, applied with the project's storage): two runs at once on the
project's storage and pools (`dagster.yaml`: one slot a pool, per op), the second waiting while
the first holds the slot."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dagster as dg
import pytest
import yaml
from dagster._core.execution.plan.active import ActiveExecution

from lakehouse_ml import dagster_pool_wait
from tests.conftest import PROJECT, PROJECT_STORAGE

POOL = "pool_wait_test"
HOLD = 3.0
"""Seconds the first run holds the pool's slot while the second waits for it."""


@pytest.fixture
def pooled_instance() -> Iterator[dg.DagsterInstance]:
    """A temporary instance with the shipped `dagster.yaml`'s storage and pools."""
    shipped = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    with dg.instance_for_test(overrides={"storage": PROJECT_STORAGE,
                                         "concurrency": shipped["concurrency"]}) as instance:
        yield instance


def test_a_run_waiting_for_a_pool_slot_sleeps(pooled_instance: dg.DagsterInstance,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Another run's step holds the pool's one slot (claimed as a step claims it, freed HOLD
    seconds later as its run frees it); this run's step waits for it, asleep."""
    assert dagster_pool_wait.apply()  # Dagster 1.13.27: the replacement is in place
    storage, ran = pooled_instance.event_log_storage, {}
    storage.initialize_concurrency_limit_to_default(POOL)
    assert storage.claim_concurrency_slot(POOL, "other-run", "other_step").is_claimed
    freed = threading.Timer(HOLD, storage.free_concurrency_slot_for_step,
                            ("other-run", "other_step"))

    passes = []  # the executor's passes with no step to run (it waits between them)
    wait = ActiveExecution.sleep_til_ready
    monkeypatch.setattr(ActiveExecution, "sleep_til_ready",
                        lambda execution: passes.append(wait(execution)))

    @dg.asset(pool=POOL)
    def waiter() -> None:
        ran["at"] = time.monotonic()

    started, cpu = time.monotonic(), time.thread_time()
    freed.start()
    result = dg.materialize([waiter], instance=pooled_instance)
    cpu = time.thread_time() - cpu
    freed.join()

    assert result.success
    assert ran["at"] - started >= HOLD  # it did wait for the slot
    # asleep: one pass per try (after 1, 2.1, 3.3 s); spinning: thousands, and this thread
    # keeps a core for the whole wait (~HOLD CPU-s on an idle machine, against ~0.2)
    assert len(passes) < 20, len(passes)
    assert cpu < 1.0, cpu
