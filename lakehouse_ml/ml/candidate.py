"""Train a candidate and record everything about it in MLflow, then register it.

One run holds params, metrics (overall and per slice), plots, the model card, the training
data as a dataset input naming its Delta table and version, and tags tying it to the code and
the data; the registered version carries a description, the pinned versions and the lookups.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import mlflow
import polars as pl
from mlflow import MlflowClient
from mlflow.data.delta_dataset_source import DeltaDatasetSource

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.training_table import pinned_versions
from lakehouse_ml.governance.reproduce_hash import TAG as TRAINING_SET_SHA256
from lakehouse_ml.governance.reproduce_hash import TrainingSetDigest
from lakehouse_ml.ml.candidate_record import Candidate
from lakehouse_ml.ml.estimator import check_params
from lakehouse_ml.ml.evaluate import evaluate, plots
from lakehouse_ml.ml.holdout import log_holdout_predictions
from lakehouse_ml.ml.model_card import model_card
from lakehouse_ml.ml.packaging import describe_steps, log_packaged
from lakehouse_ml.ml.registry import use_experiment
from lakehouse_ml.ml.retraining import (
    DATA_VERSIONS,
    REGISTERED_BY,
    AlreadyTrained,
    already_trained,
)
from lakehouse_ml.ml.run_process import process_tags
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.ml.train import inputs, train
from lakehouse_ml.ml.windows import truncated_rows

REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "skops")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in REQUIREMENTS]


def _log_data(catalog: Catalog, spec: ModelSpec, frame: pl.DataFrame, version: int) -> None:
    table = spec.training_set.name
    source = DeltaDatasetSource(path=catalog.location(table), delta_table_version=version)
    dataset = mlflow.data.from_polars(frame, source=source, name=str(catalog.name(table)),
                                      targets=spec.training_set.label)
    mlflow.log_input(dataset, context="training")


def data_versions(catalog: Catalog, spec: ModelSpec) -> dict[str, int]:
    """What a model of `spec` trains from: the training set's current Delta version and the
    versions of the feature and label tables it was built from, by full table name."""
    table = spec.training_set.name
    return {**pinned_versions(FeatureEngineeringClient(catalog), spec.training_set),
            str(catalog.name(table)): catalog.version(table)}


def train_if_new(
    catalog: Catalog, client: MlflowClient, spec: ModelSpec, *, force: bool = False,
    run_id: str | None = None, alive: Callable[[str], bool] = lambda run: False,
) -> Candidate | AlreadyTrained:
    """A new candidate, unless a validated version (or the champion) was trained from the
    current data versions or from a training set with the current one's content (its
    `training_set_sha256`, hashed before anything is fitted or logged), or one that the `alive`
    run registering it is validating: then that version, saying why nothing was trained.
    `force` trains anyway. `run_id`: the run training (the new version's `registered_by`).
    ValueError naming the model and each refused parameter, before anything is read, when
    the estimator would refuse `spec.params` (`estimator.check_params`)."""
    check_params(spec.name, spec.params)
    model = spec.registered_name(catalog.env)
    versions = data_versions(catalog, spec)
    if not force:
        found = already_trained(client, model, versions, alive)
        if found is not None:
            return found
    frame = _training_frame(catalog, spec, versions)
    sha256 = TrainingSetDigest.of(frame).sha256
    if not force:
        found = already_trained(client, model, versions, alive, training_set_sha256=sha256)
        if found is not None:
            return found
    return _train(catalog, client, spec, versions, frame, sha256, run_id)


def _training_frame(catalog: Catalog, spec: ModelSpec, versions: dict[str, int]
                    ) -> pl.DataFrame:
    """The training set at its version in `versions` (see `data_versions`)."""
    table = spec.training_set.name
    return catalog.read(table, versions[str(catalog.name(table))])


def train_candidate(catalog: Catalog, client: MlflowClient, spec: ModelSpec,
                    run_id: str | None = None) -> Candidate:
    """Train, log and register a candidate from the training set's current version, always.
    ValueError first when the estimator would refuse `spec.params` (see `train_if_new`)."""
    check_params(spec.name, spec.params)
    versions = data_versions(catalog, spec)
    frame = _training_frame(catalog, spec, versions)
    return _train(catalog, client, spec, versions, frame, TrainingSetDigest.of(frame).sha256,
                  run_id)


def _train(catalog: Catalog, client: MlflowClient, spec: ModelSpec, versions: dict[str, int],
           frame: pl.DataFrame, sha256: str, run_id: str | None) -> Candidate:
    """Fit on `frame` (the training set at `versions`, content hash `sha256`), log and
    register it."""
    name = spec.registered_name(catalog.env)
    table = spec.training_set.name
    version = versions[str(catalog.name(table))]
    trained = train(spec, frame, truncated_rows(catalog, spec.training_set, frame,
                                                versions=versions))
    label = spec.training_set.label
    evaluation = evaluate(trained.pipeline, trained.features, trained.holdout, label,
                          spec.slices, spec.min_slice_rows)
    # tags of both the run and the registered version: which code, features and data
    provenance = {"git_commit": git_commit(), "feature_set": spec.training_set.name,
                  DATA_VERSIONS: json.dumps(versions, sort_keys=True),
                  TRAINING_SET_SHA256: sha256}
    use_experiment(client, f"/{catalog.env}/{spec.schema}/{spec.name}")
    with mlflow.start_run(run_name=f"{spec.name}-train", tags=process_tags()) as run:
        mlflow.log_params({**spec.params, "holdout": str(spec.holdout),
                           "features": len(trained.features), "train_rows": trained.train.height,
                           "holdout_rows": trained.holdout.height,
                           "keep_truncated_windows": spec.keep_truncated_windows,
                           "rows_truncated_window": trained.truncated_rows})
        mlflow.log_metrics(evaluation.metrics)
        mlflow.log_metrics({f"roc_auc.{r['slice']}.{r['value']}": r["roc_auc"]
                            for r in evaluation.slices.iter_rows(named=True)})
        mlflow.set_tags({**provenance, "training_set": str(catalog.name(table))})
        _log_data(catalog, spec, frame, version)
        with tempfile.TemporaryDirectory() as folder:
            plots(trained.pipeline, trained.features, trained.holdout, label,
                  evaluation.probabilities, Path(folder))
            mlflow.log_artifacts(folder, "plots")
        log_holdout_predictions(evaluation.probabilities, trained.holdout[label])
        mlflow.log_text(model_card(spec, name, trained, evaluation, versions), "model_card.md")
        example = inputs(trained.holdout.head(100), trained.features)
        catalog.register_model(name, spec.description)  # CREATE MODEL on its schema
        model_version = log_packaged(client, trained.pipeline, name, spec.training_set,
                                     trained.features, example, _requirements())
        catalog.record_model_version(name, model_version)  # lineage: from the set read
    client.update_model_version(
        name, str(model_version),
        description=f"{spec.description} Holdout ROC AUC {evaluation.metrics['roc_auc']:.3f} "
        f"on {trained.holdout.height} rows; trained from {provenance[DATA_VERSIONS]}.",
    )
    lookups = json.dumps(describe_steps(spec.training_set))
    registered_by = {REGISTERED_BY: run_id} if run_id else {}
    for key, value in {**provenance, "feature_lookups": lookups, **registered_by}.items():
        client.set_model_version_tag(name, str(model_version), key, value)
    return Candidate(name, model_version, run.info.run_id, trained, evaluation, versions)
