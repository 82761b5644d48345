"""The registered model as a graph-backed asset (train → validate → deploy), batch scoring,
and the jobs that run them; every op and job name starts with the model's name."""

from collections.abc import Iterator
from datetime import date

import dagster as dg

from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.metadata import asset_key, markdown, table_metadata
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.ml.batch import MAX_DAYS_PER_RUN, scoring_keys, scoring_plan
from lakehouse_ml.ml.candidate_record import Candidate
from lakehouse_ml.ml.spec import ModelSpec

# The ops import MLflow and scikit-learn (lakehouse_ml.ml.candidate, deploy, gates, registry,
# scoring) when they run: loading the definitions, e.g. for a daily refresh, does not.


class TrainConfig(dg.Config):
    force: bool = False
    """Train even when a version was already trained from the current data versions."""


def train_run_config(spec: ModelSpec, *, force: bool) -> dict:
    """Run config of `<model>_train_validate_deploy` setting the train op's `force`."""
    graph = asset_key(f"{spec.schema}.{spec.name}").to_python_identifier()
    return {"ops": {graph: {"ops": {f"{spec.name}_train_model": {"config": {"force": force}}}}}}


def model_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    @dg.op(name=f"{spec.name}_train_model", ins={"training_set": dg.In(dg.Nothing)},
           out=dg.Out(Candidate, is_required=False), tags={"kind": "sklearn"},
           # pool `train_<model>`, no table's: the model asset is no Delta table, and its ops
           # only append to the model schema's record tables (appends do not conflict)
           pool=f"train_{spec.name}",
           description="Fit the pipeline on earlier label times; log run, card and model. "
           "Nothing (validation and deployment skipped) when the data versions or the "
           "training set's content (its sha256) are those of the champion, of a validated "
           "version or of one a live run is validating, unless config `force` is true. "
           "In pool `train_<model>`: one run trains it at a time.")
    def train_model(
        context: dg.OpExecutionContext, config: TrainConfig, lakehouse: LakehouseResource,
        mlflow: MlflowResource,
    ) -> Iterator[dg.Output | dg.AssetObservation]:
        from lakehouse_ml.ml.candidate import train_if_new

        def alive(run_id: str) -> bool:
            run = context.instance.get_run_by_id(run_id)
            return run is not None and not run.is_finished

        outcome = train_if_new(lakehouse.catalog(), mlflow.client(), spec, force=config.force,
                               run_id=context.run_id, alive=alive)
        if isinstance(outcome, Candidate):
            yield dg.Output(outcome)
            return
        context.log.info(outcome.message)
        yield dg.AssetObservation(asset_key=asset_key(f"{spec.schema}.{spec.name}"), metadata={
            "not_retrained": outcome.message, "version": outcome.version,
            "data_versions": outcome.data_versions})

    @dg.op(name=f"{spec.name}_validate_model",
           description="Run the validation gates; record them in MLflow and Delta.")
    def validate_model(
        context: dg.OpExecutionContext, candidate: Candidate, lakehouse: LakehouseResource,
        mlflow: MlflowResource,
    ) -> tuple[Candidate, bool]:
        from lakehouse_ml.ml.deploy import record_gates
        from lakehouse_ml.ml.gates import run_gates

        client = mlflow.client()
        gates = run_gates(client, spec, candidate)
        for gate in gates:
            context.log.info(f"gate {gate.name}: {'passed' if gate.passed else 'FAILED'} "
                             f"{gate.detail}")
        passed = record_gates(lakehouse.catalog(), client, spec.schema, candidate.model,
                              candidate.version, candidate.run_id, gates)
        return candidate, passed

    @dg.op(name=f"{spec.name}_deploy_model",
           description="champion if validated (old one → previous_champion), else challenger.")
    def deploy_model(
        context: dg.OpExecutionContext, validated: tuple[Candidate, bool],
        lakehouse: LakehouseResource, mlflow: MlflowResource,
    ) -> dg.Output[None]:
        from lakehouse_ml.ml.deploy import deploy

        candidate, passed = validated
        alias = deploy(lakehouse.catalog(), mlflow.client(), spec.schema, candidate.model,
                       candidate.version, passed, actor=f"dagster:{context.run_id}")
        return dg.Output(None, metadata={
            "registered_model": candidate.model, "version": candidate.version,
            "alias": alias, "validation": "passed" if passed else "failed",
            "mlflow_run_id": candidate.run_id, "data_versions": candidate.data_versions,
            **{k: float(v) for k, v in candidate.evaluation.metrics.items()},
            "slices": markdown(candidate.evaluation.slices,
                               rows=candidate.evaluation.slices.height),
        })

    @dg.graph_asset(
        key=asset_key(f"{spec.schema}.{spec.name}"), group_name="ml",
        ins={"training_set": dg.AssetIn(key=asset_key(spec.training_set.name),
                                        dagster_type=dg.Nothing)},
        kinds={"mlflow", "sklearn"}, owners=[spec.owner],
        description=f"{spec.description} Registered in MLflow; champion only after passing "
        "the validation gates.",
    )
    def registered_model(training_set: None) -> None:
        return deploy_model(validate_model(train_model(training_set)))

    return registered_model


class BatchScoreConfig(dg.Config):
    max_days: int = MAX_DAYS_PER_RUN
    """Score at most this many days, the oldest first; the rest wait for the next run."""
    rescore_from: str | None = None
    """A UTC day (`YYYY-MM-DD`): re-score every day from it on that the champion has not
    scored, whichever version scored it (by default a scored day is never scored again)."""


def _rescore_from(config: BatchScoreConfig) -> date | None:
    if config.rescore_from is None:
        return None
    try:
        return date.fromisoformat(config.rescore_from)
    except ValueError as error:
        raise dg.Failure(f"config rescore_from: {config.rescore_from!r} is not a day "
                         "(YYYY-MM-DD)") from error


def predictions_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    """`<schema>.predictions`: the keys `spec.batch_scoring` declares, scored by the champion
    on each day it has not scored yet (`ml.batch.scoring_plan`: the days since the last scored
    day, oldest first, at most `max_days` per run), each as of that day's latest snapshot its
    lookups can serve. ValueError if the model declares none."""
    scoring = spec.batch_scoring
    if scoring is None:
        raise ValueError(f"model {spec.name!r} declares no batch_scoring")
    table = spec.predictions_table
    keys = " and ".join(f"`{t}`" for t in (scoring.keys_table, *scoring.reads))

    @dg.asset(
        key=asset_key(table), group_name="ml", kinds={"delta", "mlflow"}, owners=[spec.owner],
        pool=names.write_pool(table),
        deps=[asset_key(f"{spec.schema}.{spec.name}"),
              *(asset_key(t) for t in dict.fromkeys((scoring.keys_table, *scoring.reads)))],
        description=f"Every eligible `{scoring.key}` (from {keys}) scored by the champion of "
        f"{spec.name} on each day since the last scored day that has feature snapshots (at "
        f"most {MAX_DAYS_PER_RUN} days a run, oldest first), as of that day's latest snapshot "
        "(features looked up as in training).",
    )
    def predictions(context: dg.AssetExecutionContext, config: BatchScoreConfig,
                    lakehouse: LakehouseResource, mlflow: MlflowResource
                    ) -> dg.MaterializeResult:
        from lakehouse_ml.ml.registry import CHAMPION, alias_version, model_uri
        from lakehouse_ml.ml.scoring import score_days

        catalog = lakehouse.catalog()
        name = spec.registered_name(catalog.env)
        version = alias_version(mlflow.client(), name, CHAMPION)
        if version is None:
            raise dg.Failure(f"{name} has no champion yet: run "
                             f"{names.train_validate_deploy(spec.name)} first")
        catalog.check_model(name, version)  # EXECUTE: loading it to score
        try:
            plan = scoring_plan(catalog, spec, version, max_days=config.max_days,
                                rescore_from=_rescore_from(config))
        except ValueError as error:
            raise dg.Failure(str(error)) from error
        days = [day.isoformat() for day in plan.as_of]
        if plan.left:
            context.log.warning(f"{len(plan.left)} day(s) left for the next run (max_days "
                                f"{config.max_days}): {plan.left[0]} to {plan.left[-1]}")
        if plan.without_features:
            context.log.warning("not scored, no feature snapshot: "
                                + ", ".join(d.isoformat() for d in plan.without_features))
        scored = score_days(FeatureEngineeringClient(catalog), model_uri(name, version),
                            version, scoring_keys(catalog, scoring),
                            spec.training_set.time_column, list(plan.as_of.values()),
                            table) if days else []
        report = {
            "model_version": version, "days_scored": dg.MetadataValue.json(days),
            "rows_by_day": dg.MetadataValue.json(
                {day: rows.height for day, rows in zip(days, scored, strict=True)}),
            "days_left": dg.MetadataValue.json([d.isoformat() for d in plan.left]),
            "days_without_features": dg.MetadataValue.json(
                [d.isoformat() for d in plan.without_features]),
            "last_scored_day_before": (plan.last_scored.isoformat() if plan.last_scored
                                       else "none"),
            "max_days": config.max_days,
            "as_of": max(plan.as_of.values()).isoformat() if plan.as_of else "none",
            "scored": sum(rows.height for rows in scored),
            "predicted_positive": sum(int(rows["prediction"].sum()) for rows in scored),
        }
        if not catalog.exists(table):
            return dg.MaterializeResult(metadata=report)
        return dg.MaterializeResult(metadata=table_metadata(catalog, table, **report))

    return predictions


def model_definitions(spec: ModelSpec, domain: str) -> dg.Definitions:
    """The model asset, its scores when declared, `<model>_train_validate_deploy` and
    `<model>_batch_score`, whose runs act as `domain`'s pipeline (their tags)."""
    tags = {names.MODEL_TAG: spec.name, names.DOMAIN_TAG: domain}
    model = asset_key(f"{spec.schema}.{spec.name}")
    assets = [model_asset(spec)]
    jobs = [dg.define_asset_job(
        names.train_validate_deploy(spec.name),
        selection=dg.AssetSelection.assets(asset_key(spec.training_set.name), model),
        description=f"Training set → train → validation gates → champion/challenger for "
        f"{spec.name}.", tags=tags,
    )]
    if spec.batch_scoring is not None:
        assets.append(predictions_asset(spec))
        jobs.append(dg.define_asset_job(
            names.batch_score(spec.name),
            selection=dg.AssetSelection.assets(asset_key(spec.predictions_table)),
            description=f"Score the eligible keys with the champion of {spec.name} on each "
            "day it has not scored since the last scored day (config max_days, "
            "rescore_from).",
            tags=tags,
        ))
    return dg.Definitions(assets=assets, jobs=jobs)
