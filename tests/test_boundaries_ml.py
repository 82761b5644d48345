"""Model lifecycle boundaries: the time split, each gate at its exact threshold, and one
`alias_changes` row per alias move, on a small real model and a real MLflow store (issue 8)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.ml.candidate import Candidate, train_candidate
from lakehouse_ml.ml.deploy import deploy, rollback
from lakehouse_ml.ml.gates import beats_champion, min_roc_auc, slice_gap
from lakehouse_ml.ml.registry import CHALLENGER, CHAMPION, PREVIOUS, alias_version, use_tracking
from lakehouse_ml.ml.train import model_inputs, time_split, train

SPEC = replace(MODEL, params={"max_iter": 15, "random_state": 0}, min_slice_rows=20)
LABEL, TIME = SPEC.training_set.label, SPEC.training_set.time_column
DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def labelled(rows: int = 480, days: int = 8, seed: int = 3) -> pl.DataFrame:
    """A noisy but learnable churn frame with the churn model's columns and slices."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 100, rows)
    churned = rng.uniform(0, 100, rows) + rng.normal(0, 25, rows) > tenure
    return pl.DataFrame({
        "customer_id": np.arange(rows),
        TIME: [DAY0 + timedelta(days=int(d)) for d in np.arange(rows) % days],
        "tenure_days": tenure,
        "plan_tier": rng.choice(["basic", "pro"], rows),
        "country": rng.choice(["FR", "DE"], rows),
        LABEL: churned,
    }).with_columns(pl.col(TIME).cast(pl.Datetime("us", "UTC")))


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, Catalog, Candidate]:
    """A candidate trained, logged and registered by the engine (version 1) in a fresh MLflow
    store, from a training-set table holding `labelled()`."""
    base = tmp_path_factory.mktemp("lifecycle")
    catalog = Catalog(str(base / "lakehouse"), "dev")
    frame = labelled()
    catalog.create_table(SPEC.training_set.name, frame.schema, TableInfo(owner="t"))
    catalog.append(SPEC.training_set.name, frame)
    client = use_tracking(f"sqlite:///{base / 'mlflow' / 'mlflow.db'}")
    return client, catalog, train_candidate(catalog, client, SPEC)


@pytest.fixture(scope="module")
def candidate(lifecycle: tuple[MlflowClient, Catalog, Candidate]) -> Candidate:
    return lifecycle[2]


# ml/train.py: train and holdout are disjoint in time

def test_time_split_puts_the_cutoff_instant_in_the_holdout_only() -> None:
    frame = labelled(rows=80, days=8)
    train_rows, holdout = time_split(frame, TIME, 0.25)
    cutoff = DAY0 + timedelta(days=6)  # 8 label times, the latest 2 held out
    assert train_rows[TIME].max() == cutoff - timedelta(days=1)
    assert holdout[TIME].min() == cutoff
    assert train_rows.height + holdout.height == frame.height == 80
    assert holdout.height == frame.filter(pl.col(TIME) >= cutoff).height == 20


def test_trained_model_never_trains_on_a_holdout_instant(candidate: Candidate) -> None:
    train_times = set(candidate.trained.train[TIME].to_list())
    holdout_times = set(candidate.trained.holdout[TIME].to_list())
    assert train_times and holdout_times and not train_times & holdout_times
    assert max(train_times) < min(holdout_times)


# ml/train.py: only numbers, booleans and declared categories are fed to the model

def test_engine_time_columns_are_never_features_and_other_non_numbers_are_refused() -> None:
    bare = replace(SPEC, not_features=("customer_id",))  # lists neither time column
    snapshot_at = SPEC.training_set.feature_lookups[0].output_name(AS_OF)  # as renamed
    frame = labelled(rows=40).with_columns(pl.col(TIME).alias(snapshot_at))

    assert model_inputs(bare, frame.schema) == ["tenure_days", "plan_tier", "country"]
    signup = frame.with_columns(pl.col(TIME).dt.date().alias("signup_day"))
    with pytest.raises(ValueError, match=re.escape(
            "model 'churn_clf': column 'signup_day' of churn.training_set is Date, not a "
            "number: list it in not_features (or in categorical, if it is a category)")):
        model_inputs(bare, signup.schema)
    with pytest.raises(ValueError, match="column 'plan_tier' of churn.training_set is String"):
        model_inputs(replace(bare, categorical=("country",)), frame.schema)
    assert train(bare, frame).features == ["tenure_days", "plan_tier", "country"]


# ml/gates.py: each gate at its exact threshold

def test_min_roc_auc_passes_at_the_threshold_and_fails_just_above_it(
    candidate: Candidate,
) -> None:
    auc = candidate.evaluation.metrics["roc_auc"]
    assert 0.5 < auc < 1.0
    at = min_roc_auc(replace(SPEC, min_roc_auc=auc), candidate)
    above = min_roc_auc(replace(SPEC, min_roc_auc=math.nextafter(auc, 1.0)), candidate)
    assert (at.passed, above.passed) == (True, False)
    assert above.detail == {"roc_auc": auc, "minimum": math.nextafter(auc, 1.0)}


def slices(gaps: dict[str, float]) -> pl.DataFrame:
    """Two values per slice column whose ROC AUCs differ by the given gap."""
    rows = [(name, value, 100, 0.3, auc) for name, gap in gaps.items()
            for value, auc in (("a", 0.9), ("b", 0.9 - gap))]
    return pl.DataFrame(rows, schema=["slice", "value", "rows", "positive_rate", "roc_auc"],
                        orient="row")


def test_slice_gap_is_decided_by_the_worst_slice(candidate: Candidate) -> None:
    table = slices({"plan_tier": 0.05, "country": 0.3})
    gaps = {name: float(rows["roc_auc"].max() - rows["roc_auc"].min())
            for (name,), rows in table.group_by("slice")}
    with_slices = replace(candidate, evaluation=replace(candidate.evaluation, slices=table))
    worst = max(gaps.values())
    at = slice_gap(replace(SPEC, max_slice_gap=worst), with_slices)
    below = slice_gap(replace(SPEC, max_slice_gap=math.nextafter(worst, 0.0)), with_slices)
    assert (at.passed, below.passed) == (True, False)
    assert below.detail["gaps"] == gaps


def test_slice_gap_on_real_slices(candidate: Candidate) -> None:
    table = candidate.evaluation.slices
    assert set(table["slice"]) == {"plan_tier", "country"}
    worst = max(float(r["roc_auc"].max() - r["roc_auc"].min())
                for _, r in table.group_by("slice"))
    assert slice_gap(replace(SPEC, max_slice_gap=worst), candidate).passed
    assert not slice_gap(replace(SPEC, max_slice_gap=math.nextafter(worst, 0.0)),
                         candidate).passed


def test_beats_champion_needs_the_full_margin(
    lifecycle: tuple[MlflowClient, Catalog, Candidate],
) -> None:
    """The champion is the candidate's own model: equal AUCs, so a margin of 0 passes and the
    smallest positive margin fails."""
    client, _, candidate = lifecycle
    client.set_registered_model_alias(candidate.model, CHAMPION, str(candidate.version))
    auc = candidate.evaluation.metrics["roc_auc"]
    level = beats_champion(client, replace(SPEC, champion_margin=0.0), candidate)
    assert level.passed and level.detail["champion_roc_auc"] == auc
    short = beats_champion(client, replace(SPEC, champion_margin=math.ulp(auc)), candidate)
    assert not short.passed
    assert short.detail == {"champion": candidate.version, "champion_roc_auc": auc, "roc_auc": auc,
                            "margin": math.ulp(auc)}
    assert beats_champion(client, replace(SPEC, champion_margin=-math.ulp(auc)),
                          candidate).passed


# ml/deploy.py: every alias move is one row of alias_changes

def test_every_alias_move_is_one_row_of_alias_changes(
    lifecycle: tuple[MlflowClient, Catalog, Candidate],
) -> None:
    client, catalog, candidate = lifecycle
    first = client.get_model_version(candidate.model, str(candidate.version))
    model = "dev.churn.aliases"
    client.create_registered_model(model)
    for _ in range(3):  # versions 1-3 of another model, all of the same artifact
        client.create_model_version(model, first.source, run_id=first.run_id)
    for version in ("1", "2"):  # as the gates tag them: rollback restores only these
        client.set_model_version_tag(model, version, "validation_status", "passed")

    assert deploy(catalog, client, "churn", model, 1, True, actor="t") == CHAMPION
    assert deploy(catalog, client, "churn", model, 2, True, actor="t") == CHAMPION
    assert deploy(catalog, client, "churn", model, 3, False, actor="t") == CHALLENGER
    assert deploy(catalog, client, "churn", model, 2, True, actor="t") == CHAMPION  # no move
    assert rollback(catalog, client, "churn", model, actor="t", reason="bad week") == 1

    changes = catalog.read("churn.alias_changes").sort("changed_at")
    assert changes.select("alias", "from_version", "to_version").rows() == [
        (CHAMPION, None, 1),
        (PREVIOUS, None, 1), (CHAMPION, 1, 2),
        (CHALLENGER, None, 3),
        (CHAMPION, 2, 1), (PREVIOUS, 1, 2),
    ]
    assert (alias_version(client, model, CHAMPION), alias_version(client, model, PREVIOUS),
            alias_version(client, model, CHALLENGER)) == (1, 2, 3)

