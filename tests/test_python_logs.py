"""The shipped `dagster.yaml` routes the project's Python warnings into Dagster's event log."""

from __future__ import annotations

import logging

import dagster as dg
import yaml

from tests.stray_files import PROJECT

SHIPPED = yaml.safe_load((PROJECT / "dagster.yaml").read_text())


@dg.asset
def warns() -> None:
    logging.getLogger("lakehouse_ml.features.state").warning(
        "gold.t_state: kept state not used, unreadable")
    logging.getLogger("lakehouse_ml.features.state").info("not shown: below WARNING")


def test_a_project_warning_is_in_the_runs_event_log() -> None:
    with dg.instance_for_test(overrides={"python_logs": SHIPPED["python_logs"]}) as instance:
        result = dg.materialize([warns], instance=instance)
        messages = [(e.level, e.user_message) for e in instance.all_logs(result.run_id)]
    assert (logging.WARNING, "gold.t_state: kept state not used, unreadable") in messages
    assert not any("below WARNING" in m for _, m in messages)
