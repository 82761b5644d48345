"""Every model that declares batch scoring gets `<model>_batch_score_schedule` in the real code
location: daily at 04:00 UTC (after the 02:00 refresh), on its own `<model>_batch_score` job;
a model without batch scoring gets none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
import pytest

from lakehouse_ml.definitions import defs
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.domain import domain_definitions
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.model import MODEL
from tests.user_domains import declare_user_domains


def test_each_scoring_model_has_a_daily_batch_score_schedule(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_user_domains(monkeypatch)  # fleet: a second domain whose model scores too
    definitions = defs()

    for model in ("churn_clf", "breakdown_clf"):
        job = names.batch_score(model)
        schedule = definitions.resolve_schedule_def(f"{model}_batch_score_schedule")
        assert schedule.job_name == job
        assert definitions.resolve_job_def(job).name == job
        assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 4 * * *", "UTC")
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # as every schedule
        context = dg.build_schedule_context(
            scheduled_execution_time=datetime(2026, 3, 5, 4, tzinfo=UTC))
        (request,) = schedule.evaluate_tick(context).run_requests or ()
        assert request.job_name in (None, job)


def test_a_model_without_batch_scoring_has_no_schedule() -> None:
    unscored = replace(MODEL, batch_scoring=None)
    schedules = [s.name for s in domain_definitions(DOMAIN, [unscored]).schedules or ()]
    assert names.schedule(names.batch_score(MODEL.name)) not in schedules
    assert names.schedule(names.daily_refresh(DOMAIN.name)) in schedules
