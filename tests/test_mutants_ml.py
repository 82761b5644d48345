"""The model lifecycle's modules (ml/train.py, ml/gates.py, ml/deploy.py) called directly, fast
enough for `make mutation`'s `ml` group: a small model trained and registered once per module in
a real MLflow sqlite store, alias moves on versions registered without training, Delta tables
for the validation results and the alias history (issues 8, 11)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.models import Model, ModelSignature
from mlflow.types import Schema
from scipy import sparse

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.ml.artifacts import DIGEST_TAG
from lakehouse_ml.ml.candidate import Candidate
from lakehouse_ml.ml.deploy import (
    ALIAS_ACTION,
    NothingToRollBack,
    RollbackRefused,
    deploy,
    record_gates,
    rollback,
)
from lakehouse_ml.ml.evaluate import evaluate
from lakehouse_ml.ml.gates import (
    Gate,
    beats_champion,
    min_roc_auc,
    reload_matches,
    run_gates,
    signature_matches,
    slice_gap,
)
from lakehouse_ml.ml.packaging import log_packaged
from lakehouse_ml.ml.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    alias_version,
    use_experiment,
    use_tracking,
)
from lakehouse_ml.ml.retraining import VALIDATION_STATUS
from lakehouse_ml.ml.train import (
    MIN_LABELLED,
    TrainingDataError,
    build_pipeline,
    inputs,
    labelled_split,
    model_inputs,
    time_split,
    train,
)
from tests.governance.test_audit_alias_token import records
from tests.test_boundaries_ml import DAY0, LABEL, SPEC, TIME, labelled

FEATURES = ["tenure_days", "plan_tier", "country"]
MODEL = "dev.churn.mutants"
LEAVE = replace(SPEC, keep_truncated_windows=False)


class Store:
    """A real MLflow sqlite store and lakehouse under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.uri = f"sqlite:///{folder / 'mlflow' / 'mlflow.db'}"
        self.catalog = Catalog(str(folder / "lakehouse"), "dev")

    @property
    def client(self) -> MlflowClient:
        """The store as MLflow's tracking and registry URI (the tests' conftest unsets both
        around every test)."""
        return use_tracking(self.uri)


@pytest.fixture(scope="module")
def candidate() -> Candidate:
    """A candidate trained on `labelled()` and evaluated, not registered (version 0)."""
    trained = train(SPEC, labelled())
    evaluation = evaluate(trained.pipeline, trained.features, trained.holdout, LABEL,
                          SPEC.slices, SPEC.min_slice_rows)
    return Candidate(MODEL, 0, "", trained, evaluation, {})


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory, candidate: Candidate
               ) -> tuple[Store, Candidate]:
    """`candidate` logged with its digests as version 1 of `MODEL`; version 2, its files with
    a signature of two inputs, and version 3, with none, registered without digests (refused
    when loaded)."""
    store = Store(tmp_path_factory.mktemp("mutants_ml"))
    client = store.client
    trained = candidate.trained
    use_experiment(client, "/dev/churn/mutants")
    with mlflow.start_run() as run:
        version = log_packaged(client, trained.pipeline, MODEL, SPEC.training_set,
                               trained.features, inputs(trained.holdout.head(20),
                                                        trained.features), ["scikit-learn"])
    files = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL}/{version}",
                                                     dst_path=str(store.folder / "copy")))
    for signature in (ModelSignature(Schema(Model.load(str(files)).signature.inputs.inputs[:2])),
                      None):
        logged = Model.load(str(files))
        logged.signature = signature
        logged.save(str(files / "MLmodel"))
        copy = shutil.copytree(files, store.folder / f"v{signature is None}")
        client.create_model_version(MODEL, str(copy), run_id=run.info.run_id)
    return store, replace(candidate, version=version, run_id=run.info.run_id)


@pytest.fixture
def lifecycle(registered: tuple[Store, Candidate]) -> Iterator[tuple[MlflowClient, Candidate]]:
    """The registered candidate, with no alias set before and after the test."""
    store, candidate = registered
    client = store.client
    yield client, candidate
    for alias in (CHAMPION, CHALLENGER, PREVIOUS):
        client.delete_registered_model_alias(MODEL, alias)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def versions(store: Store, model: str, statuses: list[str | None]) -> MlflowClient:
    """Versions 1.. of `model` (no files), each tagged with its validation status as the gates
    tag it (None: no tag)."""
    client = store.client
    client.create_registered_model(model)
    for status in statuses:
        version = client.create_model_version(model, "file:///nowhere").version
        if status is not None:
            client.set_model_version_tag(model, version, VALIDATION_STATUS, status)
    return client


def moves(store: Store, model: str = MODEL) -> list[tuple]:
    """(alias, from, to, actor, reason) of `model`'s alias changes, oldest first."""
    return (store.catalog.read("churn.alias_changes").filter(pl.col("model") == model)
            .sort("changed_at")
            .select("alias", "from_version", "to_version", "actor", "reason").rows())


# ml/train.py

def frame_of(days: int, rows_per_day: int = 10) -> pl.DataFrame:
    return labelled(rows=days * rows_per_day, days=days)


@pytest.mark.parametrize(("days", "fraction", "held"), [
    (8, 0.25, 2), (8, 0.01, 1), (8, 0.99, 7), (8, 0.35, 3), (10, 0.25, 2), (2, 0.5, 1)])
def test_a_holdout_fraction_holds_out_that_share_of_label_times_rounded_at_least_one_each_side(
    days: int, fraction: float, held: int,
) -> None:
    frame = frame_of(days)
    train_rows, holdout = time_split(frame, TIME, fraction)
    cutoff = DAY0 + timedelta(days=days - held)
    assert holdout[TIME].unique().sort().to_list() == [
        DAY0 + timedelta(days=d) for d in range(days - held, days)]
    assert train_rows[TIME].max() == cutoff - timedelta(days=1)
    assert train_rows.height + holdout.height == frame.height


def test_a_fraction_split_of_fewer_than_two_label_times_is_refused_naming_the_count() -> None:
    for days in (1, 0):
        frame = frame_of(1).head(days * 10)
        with pytest.raises(ValueError) as refused:
            time_split(frame, TIME, 0.25)
        assert str(refused.value) == (f"time split needs at least two distinct {TIME} values, "
                                      f"got {days}")


def test_a_holdout_start_that_empties_a_side_names_the_side_and_the_span() -> None:
    frame = frame_of(8)
    late, early = DAY0 + timedelta(days=9), DAY0 - timedelta(hours=1)
    span = f"{TIME} spans {DAY0} to {DAY0 + timedelta(days=7)}"
    with pytest.raises(ValueError) as refused:
        time_split(frame, TIME, late)
    assert str(refused.value) == (f"holdout_start {late.isoformat()} leaves no holdout rows "
                                  f"({span})")
    with pytest.raises(ValueError) as refused:
        time_split(frame, TIME, early)
    assert str(refused.value) == (f"holdout_start {early.isoformat()} leaves no training rows "
                                  f"({span})")
    with pytest.raises(ValueError) as refused:
        time_split(frame.head(0), TIME, late)
    assert str(refused.value) == (f"holdout_start {late.isoformat()} leaves no training rows "
                                  "(there are no labelled rows)")


def test_a_holdout_start_needs_an_aware_time_column_and_is_compared_in_its_zone() -> None:
    frame = frame_of(8)
    naive = frame.with_columns(pl.col(TIME).dt.replace_time_zone(None))
    start = DAY0 + timedelta(days=6)
    with pytest.raises(ValueError) as refused:
        time_split(naive, TIME, start)
    assert str(refused.value) == (f"holdout_start {start.isoformat()}: {TIME} "
                                  "(Datetime(time_unit='us', time_zone=None)) is not a time-zone "
                                  "aware datetime")
    paris = frame.with_columns(pl.col(TIME).dt.convert_time_zone("Europe/Paris"))
    train_rows, holdout = time_split(paris, TIME, start)
    assert holdout[TIME].min() == start and train_rows[TIME].max() < start
    assert holdout.height == 20


def test_inputs_are_the_features_in_their_order_as_pandas() -> None:
    frame = frame_of(2)
    table = inputs(frame, ["country", "tenure_days"])
    assert list(table.columns) == ["country", "tenure_days"]
    assert table["tenure_days"].tolist() == frame["tenure_days"].to_list()


def test_the_pipeline_one_hot_encodes_the_declared_categories_among_its_features() -> None:
    frame = frame_of(4)
    features = ["tenure_days", "plan_tier"]  # country is declared categorical, not a feature
    pipeline = build_pipeline(SPEC, features)
    pipeline.fit(inputs(frame, features), frame[LABEL].to_numpy())
    encode = pipeline.named_steps["encode"]
    assert list(encode.get_feature_names_out()) == ["plan_tier_basic", "plan_tier_pro",
                                                    "tenure_days"]
    unseen = inputs(frame.head(2).with_columns(pl.lit("gold").alias("plan_tier")), features)
    assert encode.transform(unseen)[:, :2].tolist() == [[0.0, 0.0], [0.0, 0.0]]
    one_hot = encode.named_transformers_["categorical"].transform(unseen[["plan_tier"]])
    assert isinstance(one_hot, np.ndarray) and not sparse.issparse(one_hot)
    assert pipeline.named_steps["classifier"].n_iter_ == SPEC.params["max_iter"] == 15
    assert list(pipeline.named_steps) == ["encode", "classifier"]


def test_model_inputs_take_numbers_booleans_and_declared_categories_in_order() -> None:
    frame = frame_of(2).with_columns(pl.lit(True).alias("active"),
                                     pl.lit(1, pl.UInt8).alias("visits"))
    assert model_inputs(SPEC, frame.schema) == [*FEATURES, "active", "visits"]
    with pytest.raises(ValueError) as refused:
        model_inputs(SPEC, frame.with_columns(pl.lit("x").alias("note")).schema)
    assert str(refused.value) == (
        "model 'churn_clf': column 'note' of churn.training_set is String, not a number: list "
        "it in not_features (or in categorical, if it is a category)")


def test_a_labelled_split_leaves_unlabelled_rows_out_and_takes_the_holdout_given() -> None:
    frame = frame_of(8).with_columns(
        pl.when(pl.col("customer_id") % 4 == 0).then(None).otherwise(pl.col(LABEL)).alias(LABEL))
    train_rows, holdout = labelled_split(SPEC, frame)  # the spec's 0.25: 2 of 8 days
    assert train_rows[LABEL].null_count() == holdout[LABEL].null_count() == 0
    assert train_rows.height + holdout.height == 60 and holdout.height == 20  # days 6 and 7
    train_rows, holdout = labelled_split(SPEC, frame, DAY0 + timedelta(days=7))
    assert holdout.height == 10 and holdout[TIME].min() == DAY0 + timedelta(days=7)


def truncated_frame() -> tuple[pl.DataFrame, pl.Series]:
    """8 days of 20 rows; the rows of the first 2 days are truncated, 10 of them (of day 0)
    unlabelled."""
    frame = frame_of(8, 20).with_columns(
        pl.when(pl.col("customer_id") % 16 == 0).then(None).otherwise(pl.col(LABEL)).alias(LABEL))
    return frame, frame[TIME] < DAY0 + timedelta(days=2)


def test_training_leaves_out_truncated_rows_and_counts_the_labelled_ones() -> None:
    frame, truncated = truncated_frame()
    trained = train(LEAVE, frame, truncated)
    assert trained.truncated_rows == 30  # 40 truncated rows, 10 of them unlabelled
    assert trained.train[TIME].min() == DAY0 + timedelta(days=2)
    assert trained.train.height + trained.holdout.height == 120
    assert trained.features == FEATURES
    expected = build_pipeline(SPEC, FEATURES).fit(inputs(trained.train, FEATURES),
                                                  trained.train[LABEL].to_numpy())
    rows = inputs(frame, FEATURES)
    assert (trained.pipeline.predict_proba(rows) == expected.predict_proba(rows)).all()

    kept = train(SPEC, frame, truncated)  # the churn model keeps them
    assert kept.truncated_rows == 30 and kept.train.height + kept.holdout.height == 150
    every = train(LEAVE, frame)
    assert every.truncated_rows == 0 and every.train.height + every.holdout.height == 150


def test_a_holdout_start_on_a_column_of_days_is_refused_naming_its_type() -> None:
    """A label time of type Date has no time zone at all (no `time_zone` attribute): the same
    refusal as a naive datetime, not an AttributeError."""
    frame = frame_of(8).with_columns(pl.col(TIME).dt.date())
    with pytest.raises(ValueError) as refused:
        time_split(frame, TIME, DAY0 + timedelta(days=4))
    assert str(refused.value) == (f"holdout_start {(DAY0 + timedelta(days=4)).isoformat()}: "
                                  f"{TIME} (Date) is not a time-zone aware datetime")


HEAD = "model 'churn_clf': training set churn.training_set has"
BOTH = (f"needs both label values (at least {MIN_LABELLED} labelled rows over 2 label times, "
        "each side of the split holding both)")


def test_training_on_no_rows_names_the_model_and_the_split_s_error() -> None:
    """No rows and no truncation given: the split's own reason, not a polars error about the
    (then untyped) truncation flags."""
    with pytest.raises(TrainingDataError) as refused:
        train(LEAVE, frame_of(8).head(0))
    assert str(refused.value) == (f"{HEAD} 0 labelled row(s) over 0 label time(s) ({TIME}); "
                                  f"time split needs at least two distinct {TIME} values, got 0")


def test_a_split_emptied_by_truncation_says_how_many_labelled_rows_were_left_out() -> None:
    frame, _ = truncated_frame()
    truncated = frame[TIME] < DAY0 + timedelta(days=7)  # one label time left
    with pytest.raises(TrainingDataError) as refused:
        train(LEAVE, frame, truncated)
    assert str(refused.value) == (
        f"{HEAD} 20 labelled row(s) over 1 label time(s) ({TIME}), after leaving out 130 "
        "labelled rows whose feature windows start before their tables' history "
        "(keep_truncated_windows keeps them); time split needs at least two distinct "
        f"{TIME} values, got 1")
    with pytest.raises(TrainingDataError) as refused:  # nothing left out: not said
        train(LEAVE, frame.filter(pl.col(TIME) == DAY0 + timedelta(days=7)))
    assert str(refused.value) == (f"{HEAD} 20 labelled row(s) over 1 label time(s) ({TIME}); "
                                  f"time split needs at least two distinct {TIME} values, got 1")


def two_sides(train_labels: list[bool], holdout_labels: list[bool]) -> pl.DataFrame:
    """Rows on day 0 (trained on) and day 1 (held out, by the spec's 0.25 of 2 label times)."""
    rows = len(train_labels) + len(holdout_labels)
    return labelled(rows=rows, days=1).with_columns(
        pl.Series(TIME, [DAY0] * len(train_labels) + [DAY0 + timedelta(days=1)] * len(
            holdout_labels)).dt.cast_time_unit("us"),
        pl.Series(LABEL, train_labels + holdout_labels))


@pytest.mark.parametrize(("train_labels", "holdout_labels", "why"), [
    ([True], [False], f"the 1 training row(s) hold only {LABEL}=True: fitting {BOTH}"),
    ([False, False], [True], f"the 2 training row(s) hold only {LABEL}=False: fitting {BOTH}"),
    ([True, False], [True], f"the 1 holdout row(s) hold only {LABEL}=True: the holdout's ROC "
                            f"AUC and calibration {BOTH}"),
])
def test_too_few_labels_are_one_line_naming_the_model_and_the_counts(
    train_labels: list[bool], holdout_labels: list[bool], why: str,
) -> None:
    """Two labels (the smallest set a time split takes) used to fail in numpy ("window shape
    cannot be larger than input array shape") or fit a model predicting one class."""
    frame = two_sides(train_labels, holdout_labels)
    with pytest.raises(TrainingDataError) as refused:
        train(LEAVE, frame)
    rows = len(train_labels) + len(holdout_labels)
    assert str(refused.value) == (
        f"{HEAD} {rows} labelled row(s) over 2 label time(s) ({TIME}); {why}")


def test_a_feature_without_a_value_in_the_training_rows_is_named_not_a_numpy_error() -> None:
    frame = two_sides([True, False], [True, False]).with_columns(
        pl.lit(None, pl.Float64).alias("tenure_days"))
    with pytest.raises(TrainingDataError) as refused:
        train(LEAVE, frame)
    assert str(refused.value) == (
        f"{HEAD} 4 labelled row(s) over 2 label time(s) ({TIME}); feature column(s) "
        "tenure_days hold no value in the 2 training row(s): list them in not_features, or "
        "land the data they are computed from")
    nan = frame.with_columns(pl.lit(float("nan")).alias("tenure_days"))
    with pytest.raises(TrainingDataError, match="tenure_days hold no value"):
        train(LEAVE, nan)
    one = frame.with_columns(pl.Series("tenure_days", [None, 3.0, None, None]))
    trained = train(LEAVE, one)  # one value is enough to fit on
    assert trained.train.height == trained.holdout.height == 2


# ml/gates.py

def test_a_gate_row_is_its_name_verdict_and_detail_as_sorted_json() -> None:
    gate = Gate("g", False, {"b": datetime(2026, 1, 2, tzinfo=UTC), "a": [1.5, None]})
    assert gate.row() == ("g", False, '{"a": [1.5, null], "b": "2026-01-02 00:00:00+00:00"}')


def test_min_roc_auc_compares_the_candidate_s_holdout_auc(candidate: Candidate) -> None:
    auc = candidate.evaluation.metrics["roc_auc"]
    at = min_roc_auc(replace(SPEC, min_roc_auc=auc), candidate)
    assert at == Gate("min_roc_auc", True, {"roc_auc": auc, "minimum": auc})
    assert not min_roc_auc(replace(SPEC, min_roc_auc=math.nextafter(auc, 1)), candidate).passed


def test_without_slices_the_slice_gap_is_zero(candidate: Candidate) -> None:
    none = replace(candidate, evaluation=replace(candidate.evaluation,
                                                 slices=candidate.evaluation.slices.head(0)))
    assert slice_gap(replace(SPEC, max_slice_gap=0.0), none) == Gate(
        "slice_gap", True, {"gaps": {}, "maximum": 0.0})
    assert not slice_gap(replace(SPEC, max_slice_gap=-1e-12), none).passed


def test_slice_gaps_are_the_best_minus_the_worst_value_of_each_slice(candidate: Candidate) -> None:
    table = pl.DataFrame({"slice": ["a", "a", "a", "b", "b"], "value": list("xyzxy"),
                          "rows": [50] * 5, "positive_rate": [0.3] * 5,
                          "roc_auc": [0.75, 0.5, 0.875, 0.625, 0.5]})
    with_slices = replace(candidate, evaluation=replace(candidate.evaluation, slices=table))
    gate = slice_gap(replace(SPEC, max_slice_gap=0.375), with_slices)
    assert gate == Gate("slice_gap", True, {"gaps": {"a": 0.375, "b": 0.125}, "maximum": 0.375})
    assert not slice_gap(replace(SPEC, max_slice_gap=0.25), with_slices).passed


def test_without_a_champion_the_candidate_beats_it(
    lifecycle: tuple[MlflowClient, Candidate],
) -> None:
    client, candidate = lifecycle
    auc = candidate.evaluation.metrics["roc_auc"]
    assert beats_champion(client, SPEC, candidate) == Gate(
        "beats_champion", True, {"champion": None, "roc_auc": auc})


def test_a_champion_that_would_be_refused_is_recorded_and_not_compared(
    lifecycle: tuple[MlflowClient, Candidate],
) -> None:
    client, candidate = lifecycle
    client.set_registered_model_alias(MODEL, CHAMPION, "2")  # registered without digests
    gate = beats_champion(client, replace(SPEC, champion_margin=1.0), candidate)
    assert gate.passed and gate.name == "beats_champion"
    assert gate.detail == {"champion": 2, "roc_auc": candidate.evaluation.metrics["roc_auc"],
                           "refused": f"{MODEL} version 2 has no {DIGEST_TAG} tag: it was "
                           "not registered through this project's training, so it is not "
                           "loaded"}


def test_the_champion_scores_the_candidate_s_holdout_with_its_own_features(
    lifecycle: tuple[MlflowClient, Candidate],
) -> None:
    client, candidate = lifecycle
    client.set_registered_model_alias(MODEL, CHAMPION, "1")
    auc = candidate.evaluation.metrics["roc_auc"]
    level = beats_champion(client, SPEC, candidate)
    assert level == Gate("beats_champion", True, {"champion": 1, "champion_roc_auc": auc,
                                                  "roc_auc": auc, "margin": 0.0})
    assert not beats_champion(client, replace(SPEC, champion_margin=math.ulp(auc)),
                              candidate).passed
    # a candidate on other features: the champion still reads its own from the holdout
    narrow = replace(candidate, trained=replace(candidate.trained, features=["tenure_days"]))
    assert beats_champion(client, SPEC, narrow).detail["champion_roc_auc"] == auc
    without = replace(candidate, trained=replace(
        candidate.trained, holdout=candidate.trained.holdout.drop("country", "plan_tier")))
    assert beats_champion(client, SPEC, without) == Gate(
        "beats_champion", False, {"champion": 1, "missing": ["plan_tier", "country"]})


def test_the_registered_artifact_reloads_to_the_trained_predictions(
    lifecycle: tuple[MlflowClient, Candidate],
) -> None:
    _, candidate = lifecycle
    assert reload_matches(candidate) == Gate("reload_matches", True,
                                             {"max_abs_difference": 0.0})
    other = train(replace(SPEC, params={"max_iter": 3, "random_state": 0}), labelled())
    swapped = replace(candidate, trained=replace(candidate.trained, pipeline=other.pipeline))
    gate = reload_matches(swapped)
    assert not gate.passed and gate.detail["max_abs_difference"] > 1e-3
    refused = reload_matches(replace(candidate, version=2))
    assert refused == Gate("reload_matches", False, {"refused": (
        f"{MODEL} version 2 has no {DIGEST_TAG} tag: it was not registered through this "
        "project's training, so it is not loaded")})


def test_the_signature_lists_the_features_in_order(
    lifecycle: tuple[MlflowClient, Candidate],
) -> None:
    _, candidate = lifecycle
    assert signature_matches(candidate) == Gate("signature", True,
                                                {"signature_inputs": 3, "features": 3})
    reordered = replace(candidate, trained=replace(candidate.trained,
                                                   features=FEATURES[::-1]))
    assert not signature_matches(reordered).passed
    fewer = replace(candidate, trained=replace(candidate.trained, features=FEATURES[:2]))
    assert signature_matches(fewer).detail == {"signature_inputs": 3, "features": 2}
    assert signature_matches(replace(candidate, version=2)) == Gate(
        "signature", False, {"signature_inputs": 2, "features": 3})
    assert signature_matches(replace(candidate, version=3)) == Gate(
        "signature", False, {"signature_inputs": 0, "features": 3})


def test_run_gates_runs_every_gate_in_order(lifecycle: tuple[MlflowClient, Candidate]) -> None:
    client, candidate = lifecycle
    client.set_registered_model_alias(MODEL, CHAMPION, "1")  # compared with the spec's margin
    strict = replace(SPEC, min_roc_auc=1.0, max_slice_gap=0.0, champion_margin=0.5)
    gates = run_gates(client, strict, candidate)
    assert gates == [min_roc_auc(strict, candidate), beats_champion(client, strict, candidate),
                     slice_gap(strict, candidate), reload_matches(candidate),
                     signature_matches(candidate)]
    assert [(g.name, g.passed) for g in gates] == [
        ("min_roc_auc", False), ("beats_champion", False), ("slice_gap", False),
        ("reload_matches", True), ("signature", True)]


# ml/deploy.py

def test_gate_results_go_to_the_run_the_version_tags_and_the_table(
    lifecycle: tuple[MlflowClient, Candidate], store: Store,
) -> None:
    client, candidate = lifecycle
    gates = [Gate("min_roc_auc", True, {"roc_auc": 0.8}), Gate("slice_gap", False, {"b": 1})]
    for version, verdicts, status in ((1, gates[:1], "passed"), (2, gates, "failed")):
        passed = record_gates(store.catalog, client, "churn", MODEL, version,
                              candidate.run_id, verdicts)
        assert passed is (status == "passed")
        tags = client.get_model_version(MODEL, str(version)).tags
        assert tags[VALIDATION_STATUS] == status
        assert {k: v for k, v in tags.items() if k.startswith("validation.")} == {
            f"validation.{g.name}": g.row()[2] for g in verdicts}
    metrics = client.get_metric_history(candidate.run_id, "gate.slice_gap")
    assert [m.value for m in metrics] == [0.0]
    assert [m.value for m in client.get_metric_history(candidate.run_id,
                                                       "gate.min_roc_auc")] == [1.0, 1.0]
    table = store.catalog.read("churn.validation_results").sort("validated_at", "gate")
    assert table.select("model", "version", "run_id", "gate", "passed", "detail").rows() == [
        (MODEL, 1, candidate.run_id, "min_roc_auc", True, '{"roc_auc": 0.8}'),
        (MODEL, 2, candidate.run_id, "min_roc_auc", True, '{"roc_auc": 0.8}'),
        (MODEL, 2, candidate.run_id, "slice_gap", False, '{"b": 1}')]
    assert record_gates(store.catalog, client, "churn", MODEL, 1, candidate.run_id, [])


def test_deploy_moves_champion_previous_and_challenger_with_reasons(store: Store) -> None:
    model = "dev.churn.deployed"
    client = versions(store, model, ["passed", "passed", "failed"])
    catalog = store.catalog
    assert deploy(catalog, client, "churn", model, 1, True, actor="ann") == CHAMPION
    assert deploy(catalog, client, "churn", model, 1, True, actor="ann") == CHAMPION
    assert deploy(catalog, client, "churn", model, 2, True, actor="bob") == CHAMPION
    assert deploy(catalog, client, "churn", model, 3, False, actor="cy") == CHALLENGER
    assert moves(store, model) == [
        (CHAMPION, None, 1, "ann", "passed validation gates"),
        (PREVIOUS, None, 1, "bob", "replaced by version 2"),
        (CHAMPION, 1, 2, "bob", "passed validation gates"),
        (CHALLENGER, None, 3, "cy", "failed validation gates: challenger only"),
    ]
    assert [alias_version(client, model, a) for a in (CHAMPION, PREVIOUS, CHALLENGER)] == [
        2, 1, 3]
    audited = [sorted(r["params"]) for r in records(catalog, ALIAS_ACTION)]
    assert [(r["user"], r["service"], r["status"]) for r in records(catalog, ALIAS_ACTION)
            ] == [(local_user(), "unityCatalog", 200)] * 4
    assert audited[-1] == sorted([f"full_name_arg={model}", "alias=challenger",
                                  "version_num=3", "from_version=",
                                  "reason=failed validation gates: challenger only"])
    assert audited[2] == sorted([f"full_name_arg={model}", "alias=champion", "version_num=2",
                                 "from_version=1", "reason=passed validation gates"])


def test_rolling_back_goes_back_through_champions_never_to_one_rolled_back(
    store: Store,
) -> None:
    model = "dev.churn.rolled"
    client = versions(store, model, ["passed"] * 5)
    catalog = store.catalog
    other = "dev.churn.other"  # another model's champions are not this one's
    versions(store, other, ["passed"] * 5)
    for version in (5, 4):
        deploy(catalog, client, "churn", other, version, True, actor="t")
    for version in (1, 2, 3):
        deploy(catalog, client, "churn", model, version, True, actor="t")
    deploy(catalog, client, "churn", model, 5, False, actor="t")  # a challenger only

    assert rollback(catalog, client, "churn", model, actor="ann", reason="one") == 2
    assert moves(store, model)[-2:] == [(CHAMPION, 3, 2, "ann", "rollback: one"),
                                        (PREVIOUS, 2, 3, "ann", "rolled back: one")]
    assert rollback(catalog, client, "churn", model, actor="ann", reason="two") == 1
    assert alias_version(client, model, PREVIOUS) == 2
    with pytest.raises(NothingToRollBack) as refused:
        rollback(catalog, client, "churn", model, actor="ann", reason="three")
    assert str(refused.value) == (f"{model}: no earlier champion to roll back to (versions "
                                  "rolled back or not validated are skipped)")
    deploy(catalog, client, "churn", model, 4, True, actor="t")
    assert rollback(catalog, client, "churn", model, actor="ann", reason="four") == 1
    assert alias_version(client, model, CHAMPION) == 1
    assert alias_version(client, other, CHAMPION) == 4


def test_rollback_skips_earlier_champions_no_longer_validated_or_registered(
    store: Store,
) -> None:
    model = "dev.churn.skipped"
    client = versions(store, model, ["passed"] * 4)
    catalog = store.catalog
    for version in (1, 2, 3, 4):
        deploy(catalog, client, "churn", model, version, True, actor="t")
    client.set_model_version_tag(model, "3", VALIDATION_STATUS, "failed")
    client.delete_model_version(model, "2")
    assert rollback(catalog, client, "churn", model, actor="t", reason="bad") == 1


def test_rolling_back_to_a_version_refuses_the_champion_missing_and_unvalidated_ones(
    store: Store,
) -> None:
    model = "dev.churn.pinned"
    client = versions(store, model, ["passed", "failed", None, "passed"])
    catalog = store.catalog
    with pytest.raises(NothingToRollBack):  # no alias history at all
        rollback(catalog, client, "churn", model, actor="t", reason="r")
    assert rollback(catalog, client, "churn", model, actor="t", reason="r", to_version=4) == 4
    assert moves(store, model) == [(CHAMPION, None, 4, "t", "rollback: r")]  # no champion
    refusals = {4: "it is the champion already", 9: "no such version is registered",
                2: "it has not passed validation (validation_status: failed)",
                3: "it has not passed validation (validation_status: none)"}
    for version, refusal in refusals.items():
        with pytest.raises(RollbackRefused) as refused:
            rollback(catalog, client, "churn", model, actor="t", reason="r", to_version=version)
        assert str(refused.value) == (f"{model}: cannot roll back to version {version}: "
                                      f"{refusal}")
    assert rollback(catalog, client, "churn", model, actor="t", reason="r", to_version=1) == 1
    assert moves(store, model)[-2:] == [(CHAMPION, 4, 1, "t", "rollback: r"),
                                        (PREVIOUS, None, 4, "t", "rolled back: r")]
