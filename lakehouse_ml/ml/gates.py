"""Validation gates a candidate must pass before it may become champion."""

from __future__ import annotations

import json
from dataclasses import dataclass

import mlflow
import numpy as np
from mlflow import MlflowClient

from lakehouse_ml.ml.artifacts import ModelArtifactError
from lakehouse_ml.ml.candidate import Candidate
from lakehouse_ml.ml.evaluate import scores
from lakehouse_ml.ml.packaging import load_packaged
from lakehouse_ml.ml.registry import CHAMPION, alias_version, model_uri
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.ml.train import inputs


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: dict

    def row(self) -> tuple[str, bool, str]:
        return self.name, self.passed, json.dumps(self.detail, sort_keys=True, default=str)


def min_roc_auc(spec: ModelSpec, candidate: Candidate) -> Gate:
    auc = candidate.evaluation.metrics["roc_auc"]
    return Gate("min_roc_auc", auc >= spec.min_roc_auc,
                {"roc_auc": auc, "minimum": spec.min_roc_auc})


def beats_champion(client: MlflowClient, spec: ModelSpec, candidate: Candidate) -> Gate:
    """Both models score the candidate's holdout; the champion uses its own features. A
    champion whose artifacts are refused (see `ml.artifacts`) is recorded and not compared:
    no server would load it, so the candidate replaces nothing that works."""
    champion = alias_version(client, candidate.model, CHAMPION)
    auc = candidate.evaluation.metrics["roc_auc"]
    if champion is None:
        return Gate("beats_champion", True, {"champion": None, "roc_auc": auc})
    holdout = candidate.trained.holdout
    try:
        packaged = load_packaged(model_uri(candidate.model, champion))
    except ModelArtifactError as refused:  # it cannot be served either: nothing to beat
        return Gate("beats_champion", True, {"champion": champion, "refused": str(refused),
                                             "roc_auc": auc})
    missing = [f for f in packaged.features if f not in holdout.columns]
    if missing:
        return Gate("beats_champion", False, {"champion": champion, "missing": missing})
    y = holdout[spec.training_set.label].cast(int).to_numpy()
    champion_auc = scores(y, packaged.pipeline.predict_proba(
        inputs(holdout, packaged.features))[:, 1])["roc_auc"]
    return Gate("beats_champion", auc >= champion_auc + spec.champion_margin,
                {"champion": champion, "champion_roc_auc": champion_auc, "roc_auc": auc,
                 "margin": spec.champion_margin})


def slice_gap(spec: ModelSpec, candidate: Candidate) -> Gate:
    gaps = {}
    for (name,), rows in candidate.evaluation.slices.group_by("slice"):
        gaps[name] = float(rows["roc_auc"].max() - rows["roc_auc"].min())
    worst = max(gaps.values(), default=0.0)
    return Gate("slice_gap", worst <= spec.max_slice_gap,
                {"gaps": gaps, "maximum": spec.max_slice_gap})


def reload_matches(candidate: Candidate) -> Gate:
    """The registered artifact, loaded as serving and scoring load it (sha256 verified, trusted
    types only), predicts what the trained object predicted."""
    sample = candidate.trained.holdout.head(500)
    try:
        reloaded = load_packaged(model_uri(candidate.model, candidate.version)).pipeline
    except ModelArtifactError as refused:
        return Gate("reload_matches", False, {"refused": str(refused)})
    features = inputs(sample, candidate.trained.features)
    expected = candidate.trained.pipeline.predict_proba(features)
    difference = float(np.abs(reloaded.predict_proba(features) - expected).max())
    return Gate("reload_matches", difference <= 1e-9, {"max_abs_difference": difference})


def signature_matches(candidate: Candidate) -> Gate:
    info = mlflow.models.get_model_info(model_uri(candidate.model, candidate.version))
    names = info.signature.inputs.input_names() if info.signature else []
    return Gate("signature", names == candidate.trained.features,
                {"signature_inputs": len(names), "features": len(candidate.trained.features)})


def run_gates(client: MlflowClient, spec: ModelSpec, candidate: Candidate) -> list[Gate]:
    return [min_roc_auc(spec, candidate), beats_champion(client, spec, candidate),
            slice_gap(spec, candidate), reload_matches(candidate), signature_matches(candidate)]
