"""Model lineage end to end on the built-once serving lakehouse (churn history → training set
→ champion 1, challenger 2), then batch-scored by the champion, its training set asset run
again, and two requests' inference-log rows written: a model version's upstream reaches its
training set, the feature and label tables at their pinned versions, silver, bronze and the
landed files; a landed file's downstream reaches the model, its predictions and the inference
log; the governance report's champion lineage comes from these tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import NamedTuple

import dagster as dg
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.model import predictions_asset
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.governance.findings_audit import AuditInputs, run_audit
from lakehouse_ml.governance.findings_models import CheckStatus
from lakehouse_ml.governance.lineage import MODEL as MODEL_TYPE
from lakehouse_ml.governance.lineage import PATH, TABLE
from lakehouse_ml.governance.lineage_columns import domain_columns
from lakehouse_ml.governance.lineage_query import DOWNSTREAM, UPSTREAM, Vertex, lineage
from lakehouse_ml.governance.report import lineage_path, markdown, write_report
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from lakehouse_ml.serving.inference_log import InferenceLog, table_name
from tests.conftest import close_writers
from tests.serving.conftest import serving_copy

NAME = "dev.churn.churn_clf"
SOURCES = ("customers", "events", "tickets", "churn_labels")
"""The sources the model learns from (orders feed only gold.daily_revenue)."""


class Scored(NamedTuple):
    settings: Settings
    catalog: Catalog
    training_set: dg.AssetMaterialization
    """The training set asset's materialization (run again after the model was trained)."""


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings) -> Scored:
    settings = serving_copy(tmp_path_factory, churn_history, "model-lineage")
    resources = {"lakehouse": LakehouseResource.from_settings(settings),
                 "mlflow": MlflowResource.from_settings(settings)}
    assert dg.materialize([predictions_asset(MODEL)], resources=resources).success
    rebuilt = dg.materialize([training_set_asset(MODEL.training_set, DOMAIN)],
                             resources=resources)
    catalog = Catalog(settings.root, settings.env)
    log = InferenceLog(catalog, table_name(MODEL.schema), MODEL.owner, flush_rows=100,
                       flush_seconds=3600, buffer_bytes=2**20, models={"clf": NAME})
    for versions in ([1, 1], [2]):
        log.record(request_id="r", endpoint="clf", requested_at=datetime.now(UTC),
                   status_code=200, latency_ms=1.0, caller="c", rows=len(versions),
                   as_of=None, model_versions=versions, request="{}", response="{}",
                   unmatched_rows=None)
    log.close()
    close_writers()
    [materialization] = rebuilt.asset_materializations_for_node("churn__training_set")
    return Scored(settings, catalog, materialization)


def landed(catalog: Catalog, source: str) -> set[str]:
    return set(catalog.read(f"bronze.{source}_manifest")["path"])


def test_model_version_upstream_reaches_its_pinned_inputs_and_the_landed_files(
        scored: Scored) -> None:
    catalog = scored.catalog
    answer = lineage(catalog, "churn.churn_clf/1", UPSTREAM)
    assert answer.root == Vertex(MODEL_TYPE, NAME)
    reached = {v.name: d for v, d in answer.vertices()}
    assert reached["dev.churn.training_set"] == 1
    pins = json.loads(use_tracking(scored.settings.mlflow_tracking_uri)
                      .get_model_version(NAME, "1").tags[DATA_VERSIONS])
    read = {(k.source.name, k.target.name): k.source_versions for k in answer.links}
    training_set = "dev.churn.training_set"
    pinned = pins.pop(training_set)
    assert read[(training_set, NAME)] == (pinned,)
    assert {t for t, _ in read if _ == training_set} == set(pins)  # features and labels
    for table, version in pins.items():
        assert read[(table, training_set)] == (version,), table
    assert {f"dev.silver.{s}" for s in SOURCES} | {f"dev.bronze.{s}" for s in SOURCES} \
        <= set(reached)
    files = {v.name for v, _ in answer.vertices() if v.type == PATH}
    assert files <= set().union(*(landed(catalog, s) for s in SOURCES))
    for source in SOURCES:  # every source's files, from the manifests
        assert files & landed(catalog, source), source
    assert not files & landed(catalog, "orders")
    assert {v for k in answer.links if k.target.name == training_set
            for v in k.target_versions} == {pinned}  # only the writes of the version read


def test_landed_file_downstream_reaches_the_model_its_predictions_and_inference_log(
        scored: Scored) -> None:
    path = sorted(landed(scored.catalog, "events"))[0]
    answer = lineage(scored.catalog, path, DOWNSTREAM)
    reached = {(v.type, v.name) for v, _ in answer.vertices()}
    assert {(TABLE, "dev.bronze.events"), (TABLE, "dev.churn.training_set"),
            (MODEL_TYPE, NAME), (TABLE, "dev.churn.predictions"),
            (TABLE, "dev.churn.inference_log")} <= reached
    model = {(k.source.name, k.target.name): k.source_versions for k in answer.links
             if k.source.type == MODEL_TYPE}
    assert model[(NAME, "dev.churn.predictions")] == (1,)  # the champion scored them
    assert model[(NAME, "dev.churn.inference_log")] == (1, 2)


def test_inference_log_upstream_reaches_the_model_versions_that_scored_it(
        scored: Scored) -> None:
    runner = CliRunner(env={"LAKEHOUSE_ROOT": scored.settings.root, "LAKEHOUSE_ENV": "dev"})
    result = runner.invoke(app, ["lineage", "churn.inference_log", "--upstream", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    first = {(n["type"], n["name"]) for n in answer["nodes"] if n["depth"] == 1}
    assert (MODEL_TYPE, NAME) in first
    edge = next(e for e in answer["edges"] if e["source"]["type"] == MODEL_TYPE)
    assert edge["source_versions"] == [1, 2]
    assert {"dev.churn.training_set", "dev.bronze.events"} <= {n["name"]
                                                              for n in answer["nodes"]}


def test_training_set_materialization_carries_its_declared_column_lineage(
        scored: Scored) -> None:
    shown = scored.training_set.metadata["dagster/column_lineage"].value
    deps = {column: sorted((".".join(d.asset_key.path), d.column_name) for d in found)
            for column, found in shown.deps_by_column.items()}
    declared = domain_columns(DOMAIN)[MODEL.training_set.name]
    assert deps == {column: sorted(found) for column, found in declared.items()}
    assert deps[MODEL.training_set.label] == [(MODEL.training_set.labels,
                                               MODEL.training_set.label)]


def test_governance_report_lineage_comes_from_the_lineage_tables(scored: Scored) -> None:
    catalog = Catalog(scored.settings.root, "dev")
    checks = {"dev.silver.events": [CheckStatus("contract", False, "ERROR")]}
    audit = run_audit(catalog, use_tracking(scored.settings.mlflow_tracking_uri),
                      AuditInputs(checks=checks))
    [champion] = audit.champions
    assert {u.type for u in champion.upstream} == {TABLE, PATH}  # not only the tag's pins
    silver = next(u for u in champion.upstream if u.name == "dev.silver.events")
    assert silver.checks == tuple(checks["dev.silver.events"]) and silver.versions
    text = markdown(audit, "report.html")
    assert "| dev.silver.events |" in text and "contract FAILED ERROR" in text
    page = write_report(catalog.root, "dev", audit)
    graph = lineage_path(page).read_text()
    assert graph.count("<svg") == 1 and "dev.bronze.events" in graph
    assert any(p in page.read_text() for p in landed(catalog, "events"))
