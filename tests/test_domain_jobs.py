"""A domain's partitions and schedules: from its first landed day through today (or a later
landed day), and the 02:00 schedule asking for yesterday's partition."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.domain import domain_definitions
from lakehouse_ml.defs.factories.medallion import daily_partitions
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains import DomainError
from lakehouse_ml.medallion.maintenance import catalog_plan, domain_plan
from tests.boundary_domain import SENSORS, land, reading
from tests.user_domains import declare_user_domains

TODAY = datetime.now(UTC).date()


def test_partitions_start_at_the_first_landed_day_and_reach_today_or_a_later_landed_day(
    settings: Settings,
) -> None:
    assert daily_partitions(SENSORS, settings.landing).get_first_partition_key() == (
        SENSORS.start_date.isoformat())  # nothing landed yet: the declared start
    land(settings.landing, "2026-05-03", [reading("a")])
    partitions = daily_partitions(SENSORS, settings.landing)
    keys = partitions.get_partition_keys()
    assert keys[0] == "2026-05-03" and keys[-1] == TODAY.isoformat()

    later = (TODAY + timedelta(days=1)).isoformat()
    land(settings.landing, later, [reading("b")])
    assert daily_partitions(SENSORS, settings.landing).get_partition_keys()[-1] == later
    # after tomorrow (UTC): left out (a mistyped day), the partitions end tomorrow
    land(settings.landing, (TODAY + timedelta(days=2)).isoformat(), [reading("c")])
    assert daily_partitions(SENSORS, settings.landing).get_partition_keys()[-1] == later


def test_daily_schedule_refreshes_yesterdays_partition(settings: Settings) -> None:
    land(settings.landing, "2026-05-03", [reading("a")])
    definitions = dg.Definitions.merge(
        domain_definitions(SENSORS, landing=settings.landing),
        dg.Definitions(resources={"lakehouse": LakehouseResource.from_settings(settings)}))
    schedule = definitions.resolve_schedule_def("sensors_daily_refresh_schedule")
    assert schedule.cron_schedule == "0 2 * * *"

    repository = definitions.get_repository_def()
    with dg.instance_for_test() as instance:
        at = datetime(2026, 5, 10, 2, tzinfo=UTC)
        (request,) = schedule.evaluate_tick(dg.build_schedule_context(
            instance=instance, scheduled_execution_time=at, repository_def=repository)
        ).run_requests or []
        before = schedule.evaluate_tick(dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 5, 3, 2, tzinfo=UTC),
            repository_def=repository))

    assert request.partition_key == "2026-05-09" and request.job_name in (
        None, "sensors_daily_refresh")
    assert not before.run_requests and "before the first partition" in (
        before.skip_message or "")
    assert date.fromisoformat(request.partition_key) < at.date()


def test_batch_scoring_is_optional_and_a_model_needs_its_domains_training_set(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = declare_user_domains(monkeypatch)
    (model,) = fleet.MODELS

    unscored = domain_definitions(fleet.DOMAIN, [replace(model, batch_scoring=None)])
    scored = domain_definitions(fleet.DOMAIN, [model])

    jobs = {job.name for job in unscored.jobs or ()}
    assert "breakdown_clf_train_validate_deploy" in jobs
    assert "breakdown_clf_batch_score" not in jobs
    assert "breakdown_clf_batch_score" in {job.name for job in scored.jobs or ()}
    with pytest.raises(DomainError, match="model 'breakdown_clf' trains on "
                                          "fleet.training_set, which domain 'sensors' does "
                                          "not declare"):
        domain_definitions(SENSORS, [model])


def test_a_domains_maintenance_covers_its_tables_and_its_models_schemas_only(
    catalog: Catalog,
) -> None:
    for table in ("silver.readings", "sensors.scores", "serving.notes"):
        catalog.create_table(table, pl.Schema({"reading_id": pl.String}), TableInfo(owner="t"))

    plan = domain_plan(catalog, SENSORS, ["sensors"])

    assert plan == {"dev.silver.readings": ("reading_id",), "dev.sensors.scores": ()}
    assert catalog_plan(catalog, [SENSORS]) == {**plan, "dev.serving.notes": ()}
