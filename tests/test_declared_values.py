"""Declarations checked before they fail late or silently (a stranger's report 11c, finding
7): a model's `params` values the estimator refuses are named by `lakehouse-ml domains` and
refused when training starts, before anything is read (`ml.estimator`; not at load, which
would import scikit-learn in every process); a `categorical` or `slices` column the training
set lacks is refused when it trains (`ml.train.check_named_columns`), never dropped."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains import discover
from lakehouse_ml.ml.candidate import train_candidate, train_if_new
from lakehouse_ml.ml.estimator import params_refused
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.ml.train import train
from tests.test_boundaries_ml import SPEC, labelled
from tests.test_domain_validation import FLEET
from tests.test_domain_validation import place as place  # the fixture

BAD = {"max_iter": "fifty", "learning_rate": -3}
REFUSED = ("params refused: The 'max_iter' parameter of HistGradientBoostingClassifier must "
           "be an int in the range [1, inf). Got 'fifty' instead. The 'learning_rate' parameter "
           "of HistGradientBoostingClassifier must be a float in the range (0.0, inf). Got -3 "
           "instead.")


def test_domains_names_the_model_and_each_refused_parameter(
        settings: Settings, place: Callable[[str, str], str]) -> None:
    place("hparam", f"{FLEET}DOMAIN = replace(FLEET, name='hparam')\n"
          f"MODELS = (replace(MODEL, params={BAD!r}),)\n")
    assert "hparam" in discover().declared  # loads: its names are the estimator's

    listed = CliRunner().invoke(app, ["domains"])

    assert listed.exit_code == 1
    (line,) = listed.stderr.splitlines()
    assert line.endswith(f" domains: model 'breakdown_clf': {REFUSED}")
    assert "hparam: " in listed.stdout  # still listed


@pytest.mark.parametrize("start", [train_if_new, train_candidate])
def test_training_refuses_such_params_before_reading_anything(
        tmp_path: Path, start: Callable) -> None:
    """The catalog holds no training set: the params are refused before it is looked for."""
    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    client = use_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(ValueError, match=re.escape(f"model 'churn_clf': {REFUSED}")):
        start(catalog, client, replace(SPEC, params={**SPEC.params, **BAD}))
    assert [e.name for e in client.search_experiments()] == ["Default"]  # nothing logged


@pytest.mark.parametrize(("declared", "said"), [
    ({"categorical": ("plan_tier", "nope2")}, "categorical names 'nope2', not a column of its "
     "training set churn.training_set (churned, country, customer_id, label_timestamp, "
     "plan_tier, tenure_days)"),
    ({"slices": ("nope",)}, "slices names 'nope', not a column of its training set "
     "churn.training_set ("),
    ({"categorical": ("country",), "not_features": ("customer_id", "country")},
     "categorical names 'country', which is not a model input (not_features, the label or a "
     "time column): it would not be encoded"),
])
def test_a_categorical_or_slice_column_the_training_set_lacks_is_refused_at_training(
        declared: dict, said: str) -> None:
    """Its training set's columns were unknowable at load (here: no domain declares it): the
    column was dropped silently (categorical) or failed after fitting (slices)."""
    with pytest.raises(ValueError, match=re.escape(f"model 'churn_clf': {said}")):
        train(replace(SPEC, **declared), labelled())


@pytest.mark.parametrize(("params", "said"), [
    ({"max_iter": True}, "The 'max_iter' parameter of HistGradientBoostingClassifier must not "
     "be a boolean. Got True instead."),
    ({"min_samples_leaf": True}, "The 'min_samples_leaf' parameter of "
     "HistGradientBoostingClassifier must not be a boolean. Got True instead."),
    ({"max_iter": 10**9}, "The 'max_iter' parameter of HistGradientBoostingClassifier must be at "
     "most 10,000 in this project. Got 1000000000 instead."),
])
def test_a_boolean_for_a_number_and_an_unbounded_iteration_count_are_refused(
        params: dict, said: str) -> None:
    """scikit-learn lets both through: `True` is the int 1, and `max_iter` has no upper bound
    (10**9 iterations would train for days on a set too small for early stopping)."""
    assert params_refused("m", params) == f"model 'm': params refused: {said}"


def test_booleans_and_counts_within_the_limit_are_taken() -> None:
    assert params_refused("m", {"early_stopping": True, "warm_start": False, "verbose": True,
                                "max_iter": 10_000, "learning_rate": 0.1}) is None
