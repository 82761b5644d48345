"""Tests written for the survivors of the `domains` mutation group (issue 11: what is checked
when a domain package is loaded; bench/MUTATION.md, section "domains"). Each pins a check of
`lakehouse_ml.domains`, `domains.reserved`, `medallion.spec` or `ml.spec` that the loading
tests reached without asserting: the exact wording of a clash or a refusal (which package,
which table, which field), a duplicate model name, a monitor of a model schema's table, a
package that raises an unforeseen error while checked, and the bounds of a model's holdout.

The declarations are the churn domain's own (`lakehouse_ml.domains.churn`), varied with
`dataclasses.replace`; `_declared`, `_clashes` and `_monitoring` are called on real modules
and `Declared` records, as `discover` calls them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from types import ModuleType

import pandera.polars as pa
import polars as pl
import pytest

import lakehouse_ml.domains.churn as churn
from lakehouse_ml.domains import (
    Declared,
    DomainError,
    _clashes,
    _declared,
    _monitoring,
    declared_models,
    declared_monitors,
    declared_retraining,
    discover,
    monitoring_declarations,
)
from lakehouse_ml.domains.reserved import engine_owned
from lakehouse_ml.medallion.spec import Domain, Expectation, Source, kind_names
from lakehouse_ml.ml.spec import BatchScoring
from lakehouse_ml.monitoring.spec import Monitor
from tests.test_domain_validation import FLEET, broken, place  # noqa: F401 (place: a fixture)

DOMAIN = churn.DOMAIN
MODEL = churn.MODELS[0]
AGGREGATE = DOMAIN.aggregates[0]
FEATURE_TABLE = DOMAIN.feature_tables[0]
TRAINING_SET = DOMAIN.training_set
SOURCE = DOMAIN.sources[0]
LONE = Domain("lone", "A domain with nothing but a model.", date(2026, 1, 1), ())
"""A domain declaring no table: its only claims are its models'."""


def package(domain: Domain, models: tuple = (), **attributes: object) -> ModuleType:
    """A module declaring DOMAIN, MODELS and `attributes` (MONITORS, RETRAINING)."""
    module = ModuleType("lakehouse_ml.domains.made_here")
    module.DOMAIN = domain
    module.MODELS = models
    for name, value in attributes.items():
        setattr(module, name, value)
    return module


# --- domains/__init__.py: _declared ---------------------------------------------------------

@pytest.mark.parametrize(("domain", "models", "kind"), [
    (replace(LONE, name="Lone"), (), "domain name 'Lone'"),
    (DOMAIN, (replace(MODEL, name="Clf"),), "model name 'Clf'"),
    (DOMAIN, (replace(MODEL, schema="Churn"),), "model schema name 'Churn'"),
    (replace(DOMAIN, aggregates=(replace(AGGREGATE, name="Daily"),)), (), "aggregate name 'Daily'"),
    (replace(DOMAIN, feature_tables=(replace(FEATURE_TABLE, name="Eng"),)), (),
     "feature table name 'Eng'"),
])
def test_a_name_not_in_lowercase_is_refused_naming_what_it_names(
        domain: Domain, models: tuple, kind: str) -> None:
    with pytest.raises(DomainError) as refused:
        _declared("/x/pkg", package(domain, models))
    assert str(refused.value).startswith(f"{kind} must be lowercase letters")


def test_a_model_name_declared_twice_is_refused() -> None:
    twin = replace(MODEL, description="another")
    with pytest.raises(DomainError, match="^model 'churn_clf' is declared twice"):
        _declared("/x/pkg", package(DOMAIN, (MODEL, twin)))
    assert _declared("/x/pkg", package(DOMAIN, (MODEL,))).models == (MODEL,)


# --- _monitoring -------------------------------------------------------------------------------

def test_a_monitor_of_a_table_in_a_model_schema_is_accepted_and_elsewhere_refused() -> None:
    own = Monitor("churn.scores_by_hand", "snapshot")  # in the model's schema, not declared
    assert _monitoring(package(DOMAIN, (MODEL,), MONITORS=(own,)), DOMAIN, (MODEL,)) == (
        (own,), ())
    for table in ("elsewhere.churn", "gold.churn"):
        with pytest.raises(DomainError, match=f"^monitor of {table}: domain 'churn' declares "
                                              "no such table$"):
            _monitoring(package(DOMAIN, (MODEL,), MONITORS=(Monitor(table, "snapshot"),)),
                        DOMAIN, (MODEL,))


def test_two_monitors_of_one_table_in_a_package_name_the_one_writing_first() -> None:
    twice = (Monitor("gold.customer_recency", "snapshot"),) * 2
    with pytest.raises(DomainError) as refused:
        _monitoring(package(DOMAIN, (), MONITORS=twice), DOMAIN, ())
    assert str(refused.value) == (
        "monitor of gold.customer_recency writes "
        "monitoring.gold_customer_recency_profile_metrics, which the monitor of "
        "gold.customer_recency already writes")


# --- _clashes ----------------------------------------------------------------------------------

def declared(where: str, domain: Domain, models: tuple = (), monitors: tuple = ()) -> Declared:
    return Declared(where, domain, models, monitors, ())


def test_two_models_in_one_schema_clash_on_its_predictions_table_naming_each_model() -> None:
    first = declared("/a", replace(LONE, name="one"), (MODEL,))
    second = declared("/b", replace(LONE, name="two"), (replace(MODEL, name="other_clf"),))
    assert _clashes([first, second]) == {
        "/a": "model 'churn_clf' (churn.predictions) is also declared by domain 'two' (/b)",
        "/b": "model 'other_clf' (churn.predictions) is already declared by domain 'one' (/a)"}


def test_one_domain_name_in_two_packages_is_a_clash_said_from_each_side() -> None:
    assert _clashes([declared("/a", LONE), declared("/b", LONE)]) == {
        "/a": "domain 'lone' is also declared in /b",
        "/b": "domain 'lone' is already declared in /a"}


def test_monitors_clash_only_when_they_write_the_same_metric_tables() -> None:
    recency = Monitor("gold.customer_recency", "snapshot")
    profile = Monitor("gold.customer_profile", "snapshot")
    first = declared("/a", replace(LONE, name="one"), monitors=(recency,))
    assert _clashes([first, declared("/b", replace(LONE, name="two"), monitors=(profile,))]) == {}
    assert _clashes([first, declared("/b", replace(LONE, name="two"), monitors=(recency,))]) == {
        "/a": "monitor of gold.customer_recency writes "
              "monitoring.gold_customer_recency_profile_metrics, which the monitor of "
              "gold.customer_recency (/b) also writes",
        "/b": "monitor of gold.customer_recency writes "
              "monitoring.gold_customer_recency_profile_metrics, which the monitor of "
              "gold.customer_recency (/a) already writes"}


# --- discover ----------------------------------------------------------------------------------

def test_a_package_failing_its_checks_unforeseen_is_left_out_in_one_line(
        place: Callable[[str, str], str]) -> None:  # noqa: F811 (the imported fixture)
    """...and the packages after it (churn) are still checked (`broken` asserts churn loads)."""
    where = place("a_odd", f"{FLEET}DOMAIN = replace(FLEET, name='odd')\n"  # before churn
                         "def __getattr__(name):\n"
                         "    raise RuntimeError('no  MODELS\\n here')\n")
    assert broken(where) == "cannot be checked: RuntimeError: no MODELS here"
    assert str(discover().broken[0]) == f"{where}: cannot be checked: RuntimeError: no MODELS here"


def test_a_package_that_cannot_be_imported_leaves_the_later_ones_to_load(
        place: Callable[[str, str], str]) -> None:  # noqa: F811
    where = place("a_first", "raise ImportError('not today')\n")  # sorted before churn
    assert broken(where).startswith("cannot be imported: ImportError: not today")


def test_each_broken_package_is_logged_once_per_process(
        place: Callable[[str, str], str], caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    where = place("a_once", "raise ImportError('once')\n")
    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.domains"):
        discover()
        discover()
    said = [r.getMessage() for r in caplog.records if where in r.getMessage()]
    assert said == [f"domain package left out: {where}: cannot be imported: ImportError: once "
                    "(__init__.py, line 1)"]


# --- reserved.py -------------------------------------------------------------------------------

def test_a_model_schema_claim_is_the_engines_when_its_schema_is() -> None:
    assert engine_owned("schema monitoring") == (
        "schema monitoring is the engine's (governance, monitoring, pipeline, serving)")
    assert engine_owned("schema churn") is None


# --- medallion/spec.py -------------------------------------------------------------------------

def test_kind_names_joins_class_names_with_or_and_says_none() -> None:
    assert kind_names(str) == "str"
    assert kind_names((str, type(None))) == "str or None"


def test_an_expectation_keeps_its_kind_and_arguments() -> None:
    expectation = Expectation("expect_column_values_to_not_be_null", column="customer_id")
    assert (expectation.kind, dict(expectation.kwargs)) == (
        "expect_column_values_to_not_be_null", {"column": "customer_id"})


def refusal(make: Callable[[], object]) -> str:
    with pytest.raises(ValueError) as refused:
        make()
    return str(refused.value)


@pytest.mark.parametrize(("make", "said"), [
    (lambda: replace(AGGREGATE, inputs="events"), "aggregate 'daily_activity': inputs must be"),
    (lambda: replace(AGGREGATE, primary_key=("day", 1)),
     "aggregate 'daily_activity': primary_key holds a int"),
    (lambda: replace(AGGREGATE, expectations=("x",)),
     "aggregate 'daily_activity': expectations holds a str"),
    (lambda: replace(AGGREGATE, day_column=1), "aggregate 'daily_activity': day_column must"),
    (lambda: replace(AGGREGATE, build=None), "aggregate 'daily_activity': build must"),
    (lambda: replace(FEATURE_TABLE, entity_keys="k"),
     "feature table 'customer_engagement': entity_keys must"),
    (lambda: replace(FEATURE_TABLE, features=("f",)),
     "feature table 'customer_engagement': features holds a str"),
    (lambda: replace(FEATURE_TABLE, timestamp_key=None),
     "feature table 'customer_engagement': timestamp_key must"),
    (lambda: replace(FEATURE_TABLE, build=None), "feature table 'customer_engagement': build"),
    (lambda: replace(SOURCE, name=1), "source 1: name must be a str, got int"),
    (lambda: replace(SOURCE, owner=None), "source 'customers': owner must be a str"),
    (lambda: replace(SOURCE, contract=int),
     "source 'customers': contract must be a pandera DataFrameModel class, got <class 'int'>"),
    (lambda: replace(TRAINING_SET, labels=None), "training set 'churn.training_set': labels"),
    (lambda: replace(TRAINING_SET, name="a.b.c"), "training set 'a.b.c': name must be a table"),
    (lambda: replace(TRAINING_SET, name="a."), "training set 'a.': name must be a table"),
    (lambda: replace(TRAINING_SET, feature_lookups=None),
     "training set 'churn.training_set': feature_lookups must"),
    (lambda: replace(TRAINING_SET, exclude_columns=("a", 1)),
     "training set 'churn.training_set': exclude_columns holds a int (1), not a str"),
    (lambda: replace(MODEL, name=None), "model None: name must"),
    (lambda: replace(MODEL, description=None), "model 'churn_clf': description must"),
    (lambda: replace(MODEL, slices="segment"), "model 'churn_clf': slices must"),
    (lambda: BatchScoring("gold.keys", None), "batch scoring of 'gold.keys': key must"),
    (lambda: BatchScoring("gold.keys", "k", reads="gold.x"),
     "batch scoring of 'gold.keys': reads must"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_a_malformed_field_is_refused_naming_the_declaration_and_the_field(
        make: Callable[[], object], said: str) -> None:
    assert refusal(make).startswith(said)


def test_a_training_set_excluding_columns_is_declared() -> None:
    assert replace(TRAINING_SET, exclude_columns=("a",)).exclude_columns == ("a",)


# --- ml/spec.py: the holdout -------------------------------------------------------------------

@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
def test_a_holdout_fraction_outside_0_1_is_refused(fraction: float) -> None:
    assert refusal(lambda: replace(MODEL, holdout_fraction=fraction, holdout_start=None)) == (
        f"model 'churn_clf': holdout_fraction must be between 0 and 1 (exclusive), got "
        f"{fraction}")


def test_a_holdout_is_a_fraction_or_an_aware_start_never_both() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    assert replace(MODEL, holdout_fraction=None, holdout_start=None).holdout == 0.25
    assert replace(MODEL, holdout_fraction=0.3, holdout_start=None).holdout == 0.3
    assert replace(MODEL, holdout_fraction=None, holdout_start=start).holdout == start
    assert refusal(lambda: replace(MODEL, holdout_fraction=0.3, holdout_start=start)) == (
        "model 'churn_clf': give holdout_fraction or holdout_start, not both")
    assert refusal(lambda: replace(MODEL, holdout_fraction=None,
                                   holdout_start=datetime(2026, 6, 1))).startswith(
        "model 'churn_clf': holdout_start 2026-06-01 00:00:00 has no time zone")


# --- functions no test of the group reached (the run's "no tests") ----------------------------

def test_declared_models_monitors_and_policies_are_the_named_domains(
        place: Callable[[str, str], str]) -> None:  # noqa: F811
    assert declared_models() == declared_models("churn") == list(churn.MODELS)
    assert declared_monitors() == declared_monitors("churn") == list(churn.MONITORS)
    assert declared_retraining() == declared_retraining("churn") == list(churn.RETRAINING)
    assert declared_models("fleet") == declared_monitors("fleet") == declared_retraining(
        "fleet") == []
    where = place("a_gone", "raise ImportError('gone')\n")
    with pytest.raises(DomainError, match=f"^{where}: cannot be imported: ImportError: gone"):
        monitoring_declarations()


def test_feature_columns_leave_out_keys_label_and_engine_columns() -> None:
    engine = sorted(MODEL.engine_columns)
    columns = ["tenure_days", *MODEL.not_features, TRAINING_SET.label, *engine, "spend"]
    assert MODEL.feature_columns(columns) == ["tenure_days", "spend"]


class Tagged(pa.DataFrameModel):
    key: int = pa.Field(description="The key.", metadata={"tags": ("pii", "id")})
    at: str
    note: str = pa.Field(metadata={"other": 1})


def test_column_docs_are_the_contracts_descriptions_and_tags() -> None:
    tagged = Source("tagged", "jsonl", Tagged, ("key",), "Tagged rows.", "at")
    assert tagged.column_docs() == ({"key": "The key."}, {"key": ["pii", "id"]})


@pytest.mark.parametrize("height", [0, 3])
def test_without_a_population_every_row_is_in_it(height: int) -> None:
    keep = replace(TRAINING_SET, population=None).in_population(
        pl.DataFrame({"x": list(range(height))}))
    assert (keep.name, keep.dtype, keep.to_list()) == ("population", pl.Boolean, [True] * height)


def test_a_population_keeps_true_rows_and_refuses_what_is_no_boolean_per_row() -> None:
    frame = pl.DataFrame({"x": [1, None, 3]})
    kept = replace(TRAINING_SET, population=pl.col("x") > 1).in_population(frame)
    assert kept.to_list() == [False, False, True]
    with pytest.raises(ValueError, match="^training set churn.training_set: its population "
                                         r"gives Int64 x 3, not one Boolean per row$"):
        replace(TRAINING_SET, population=pl.col("x")).in_population(frame)
    with pytest.raises(ValueError, match="gives Boolean x 1, not one Boolean per row$"):
        replace(TRAINING_SET, population=pl.col("x").is_null().any()).in_population(frame)
    with pytest.raises(ValueError, match="^training set churn.training_set: its population "
                                         r"cannot be evaluated on rows with columns \['x'\]"):
        replace(TRAINING_SET, population=pl.col("y") > 1).in_population(frame)
