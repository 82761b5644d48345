"""A small real lakehouse with a registered churn model: two versions, champion and challenger.

Built the way the pipeline builds it (generate → medallion and features, shared as
`tests.conftest.churn_history` → training set → train → gates → deploy); the data ends
yesterday, so "now" is within the features' lookback.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.candidate import train_candidate
from lakehouse_ml.ml.deploy import deploy, record_gates
from lakehouse_ml.ml.gates import run_gates
from lakehouse_ml.ml.registry import CHALLENGER, CHAMPION, use_tracking
from tests.conftest import history_copy


def _champion(catalog: Catalog, client: MlflowClient) -> None:
    candidate = train_candidate(catalog, client, MODEL)
    passed = record_gates(catalog, client, MODEL.schema, candidate.model, candidate.version,
                          candidate.run_id, run_gates(client, MODEL, candidate))
    deploy(catalog, client, MODEL.schema, candidate.model, candidate.version, passed,
           actor="tests")
    if not passed:  # gates are tested elsewhere; serving needs a champion whatever the data
        client.set_registered_model_alias(candidate.model, CHAMPION, str(candidate.version))


def build_lakehouse(base: Path, history: Settings) -> Settings:
    """A copy of `history` (the churn history ending yesterday) under `base`, its training
    set, and two model versions: version 1 is champion (through the gates when they pass);
    version 2, other hyperparameters and so other scores, is made challenger directly."""
    settings = history_copy(history, base)
    dg.materialize([training_set_asset(MODEL.training_set)],
                   resources={"lakehouse": LakehouseResource.from_settings(settings)})
    catalog = Catalog(settings.root, settings.env)
    client = use_tracking(settings.mlflow_tracking_uri)
    _champion(catalog, client)
    other = dataclasses.replace(MODEL, params={**MODEL.params, "max_iter": 40,
                                               "learning_rate": 0.2})
    challenger = train_candidate(catalog, client, other)
    client.set_registered_model_alias(challenger.model, CHALLENGER, str(challenger.version))
    return settings
