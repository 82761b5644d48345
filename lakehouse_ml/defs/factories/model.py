"""The registered model as a graph-backed asset (train → validate → deploy), batch scoring,
and the jobs that run them."""

from datetime import datetime

import dagster as dg
import polars as pl

from lakehouse_ml.defs.factories.metadata import asset_key, markdown, table_metadata
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.ml.candidate import Candidate, train_candidate
from lakehouse_ml.ml.deploy import deploy, record_gates
from lakehouse_ml.ml.gates import run_gates
from lakehouse_ml.ml.registry import CHAMPION, alias_version, model_uri
from lakehouse_ml.ml.scoring import score_latest
from lakehouse_ml.ml.spec import ModelSpec


def model_asset(spec: ModelSpec) -> dg.AssetsDefinition:
    @dg.op(ins={"training_set": dg.In(dg.Nothing)}, tags={"kind": "sklearn"},
           description="Fit the pipeline on earlier label times; log run, card and model.")
    def train_model(lakehouse: LakehouseResource, mlflow: MlflowResource) -> Candidate:
        return train_candidate(lakehouse.catalog(), mlflow.client(), spec)

    @dg.op(description="Run the validation gates; record them in MLflow and Delta.")
    def validate_model(
        context: dg.OpExecutionContext, candidate: Candidate, lakehouse: LakehouseResource,
        mlflow: MlflowResource,
    ) -> tuple[Candidate, bool]:
        client = mlflow.client()
        gates = run_gates(client, spec, candidate)
        for gate in gates:
            context.log.info(f"gate {gate.name}: {'passed' if gate.passed else 'FAILED'} "
                             f"{gate.detail}")
        passed = record_gates(lakehouse.catalog(), client, spec.schema, candidate.model,
                              candidate.version, candidate.run_id, gates)
        return candidate, passed

    @dg.op(description="champion if validated (old one → previous_champion), else challenger.")
    def deploy_model(
        context: dg.OpExecutionContext, validated: tuple[Candidate, bool],
        lakehouse: LakehouseResource, mlflow: MlflowResource,
    ) -> dg.Output[None]:
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


def predictions_asset(spec: ModelSpec, keys_table: str, key: str, snapshot_table: str
                      ) -> dg.AssetsDefinition:
    table = f"{spec.schema}.predictions"

    @dg.asset(
        key=asset_key(table), deps=[asset_key(f"{spec.schema}.{spec.name}")], group_name="ml",
        kinds={"delta", "mlflow"}, owners=[spec.owner],
        description=f"Every customer scored by the champion of {spec.name} as of the latest "
        "feature snapshot (features looked up as in training).",
    )
    def predictions(lakehouse: LakehouseResource, mlflow: MlflowResource
                    ) -> dg.MaterializeResult:
        catalog = lakehouse.catalog()
        name = spec.registered_name(catalog.env)
        version = alias_version(mlflow.client(), name, CHAMPION)
        if version is None:
            raise dg.Failure(f"{name} has no champion yet: run train_validate_deploy first")
        as_of: datetime = catalog.scan(snapshot_table).select(
            pl.col("feature_ts").max()).collect().item()
        keys = catalog.read(keys_table, columns=[key]).unique().sort(key)
        scored = score_latest(FeatureEngineeringClient(catalog), model_uri(name, version),
                              version, keys, spec.training_set.time_column, as_of, table)
        return dg.MaterializeResult(metadata=table_metadata(
            catalog, table, model_version=version, as_of=as_of.isoformat(),
            scored=scored.height, predicted_positive=int(scored["prediction"].sum()),
        ))

    return predictions


def model_jobs(spec: ModelSpec) -> dg.Definitions:
    model, scores = asset_key(f"{spec.schema}.{spec.name}"), asset_key(f"{spec.schema}.predictions")
    return dg.Definitions(jobs=[
        dg.define_asset_job(
            "train_validate_deploy",
            selection=dg.AssetSelection.assets(asset_key(spec.training_set.name), model),
            description="Training set → train → validation gates → champion/challenger.",
        ),
        dg.define_asset_job("batch_score", selection=dg.AssetSelection.assets(scores),
                            description="Score every customer with the champion."),
    ])
