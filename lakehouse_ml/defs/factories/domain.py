"""Everything one domain produces in Dagster, from its declaration and its models'."""

from collections.abc import Sequence

import dagster as dg

from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.jobs import daily_refresh, weekly_maintenance
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.factories.model import model_definitions
from lakehouse_ml.defs.factories.monitoring import monitoring_definitions
from lakehouse_ml.defs.factories.sensors import model_automation
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.domains import check_models
from lakehouse_ml.medallion.spec import Domain
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.monitoring.spec import Monitor, RetrainingPolicy


def domain_definitions(
    domain: Domain, models: Sequence[ModelSpec] = (), *, landing: str | None = None,
    landing_folders: Sequence[str] = (), monitors: Sequence[Monitor] = (),
    retraining: Sequence[RetrainingPolicy] = (),
) -> dg.Definitions:
    """The domain's medallion and feature assets (daily partitions from its first day landed
    under `landing`, see `daily_partitions`), its training set, each model's asset, scores and
    jobs, `<domain>_daily_refresh` and `<domain>_weekly_maintenance` with their schedules;
    each scoring model's `<model>_batch_score_schedule` and, with a policy in `retraining`, its
    `<model>_drift_sensor` over the domain's `monitors`; the monitors' assets and checks and
    `<domain>_monitoring_refresh` with its schedule (see `monitoring_definitions`).

    Every name is prefixed by the domain's or model's name and every job selects only this
    domain's assets, so domains coexist in one code location. `landing_folders`: every source
    folder of the location (see `medallion_assets`). DomainError naming the model when one
    trains on a training set the domain does not declare."""
    check_models(domain, models)
    declared = domain.training_set.name if domain.training_set else None
    policies = {policy.model: policy for policy in retraining}
    partitions = daily_partitions(domain, landing)
    daily = [*medallion_assets(domain, partitions, landing_folders),
             *feature_assets(domain, partitions)]
    training = [training_set_asset(domain.training_set, domain)] if domain.training_set else []
    schemas = {m.schema for m in models} | {t.name.split(".")[0] for t in
                                            ([domain.training_set] if declared else [])}
    return dg.Definitions.merge(
        dg.Definitions(assets=[*daily, *training]),
        daily_refresh(domain, partitions, [key for a in daily for key in a.keys]),
        weekly_maintenance(domain, sorted(schemas)),
        *(model_definitions(model, domain.name) for model in models),
        *(model_automation(model, policies.get(model.name), monitors) for model in models),
        monitoring_definitions(domain.name, monitors),
    )
