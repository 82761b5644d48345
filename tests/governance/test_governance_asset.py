"""The governance audit asset with Dagster's `materialize` on a real lakehouse with a champion
(the built-once serving lakehouse: churn history, champion 1 through the gates, challenger 2
without them), the churn policy applied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.governance_audit import CHECK, KEY, governance_findings
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.findings import CRITICAL, TABLE
from lakehouse_ml.ml.registry import CHAMPION, use_tracking
from tests.governance.test_policy import apply_churn
from tests.serving.conftest import serving_copy

MODEL = "dev.churn.churn_clf"
TRAINING_SET = dg.AssetKey(["churn", "training_set"])


@pytest.fixture
def lakehouse(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings) -> Settings:
    """A private copy of the serving lakehouse (tables and MLflow database) with the churn
    policy applied."""
    settings = serving_copy(tmp_path_factory, churn_history, "governance-asset")
    apply_churn(Metastore(settings.root, settings.env))
    return settings


@dg.asset(key=TRAINING_SET, check_specs=[dg.AssetCheckSpec("no_label_leakage",
                                                           asset=TRAINING_SET)])
def training_set() -> dg.MaterializeResult:
    """Stands in for the training set's asset: its check fails, as a leak would."""
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(
        check_name="no_label_leakage", passed=False, severity=dg.AssetCheckSeverity.ERROR)])


def audit(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [governance_findings, training_set], selection=[KEY], instance=instance,
        raise_on_error=False,
        resources={"lakehouse": LakehouseResource.from_settings(settings),
                   "mlflow": MlflowResource.from_settings(settings)})


def report(result: dg.ExecuteInProcessResult) -> tuple[dict, dg.AssetCheckEvaluation]:
    [materialization] = result.asset_materializations_for_node(KEY.to_python_identifier())
    [evaluation] = result.get_asset_check_evaluations()
    return materialization.metadata, evaluation


def test_champion_report_and_findings_table(lakehouse: Settings,
                                            instance: dg.DagsterInstance) -> None:
    """The champion's promotion, gates, pinned data versions and the failed check of its
    training set are in the report; a second run finding the same adds no Delta version; the
    HTML report is under the lakehouse root."""
    dg.materialize([training_set], instance=instance)  # its failed check, in the instance
    result = audit(lakehouse, instance)
    metadata, evaluation = report(result)
    text = metadata["report"].value
    assert f"Champion {MODEL} version 1" in text
    assert "promoted by tests" in text and "Validation: passed" in text
    assert "| dev.churn.training_set |" in text
    assert "no_label_leakage FAILED ERROR" in text
    assert "input_check_failed | dev.churn.training_set" in text
    assert "| dev.silver.customers | email | yes | dev.silver.mask_email |" in text
    page = Path(metadata["report_path"].value)
    assert page.is_file() and page.is_relative_to(lakehouse.root)
    assert f"Champion {MODEL} version 1" in page.read_text()
    catalog = Catalog(lakehouse.root, lakehouse.env)
    today = datetime.now(UTC).date()
    first = catalog.read(TABLE).filter(pl.col("audit_date") == today)
    assert first.height == metadata["dagster/row_count"].value > 0
    assert evaluation.passed == first.filter(pl.col("severity") == CRITICAL).is_empty()
    version = catalog.version(TABLE)
    again = report(audit(lakehouse, instance))[0]  # the same findings: nothing written
    rows = catalog.read(TABLE).filter(pl.col("audit_date") == today)
    assert again["delta_version"].value == catalog.version(TABLE) == version
    assert rows.sort("kind", "securable").equals(first.sort("kind", "securable"))


def test_unvalidated_champion_fails_the_blocking_check(lakehouse: Settings,
                                                       instance: dg.DagsterInstance) -> None:
    """Version 2 never went through the gates; made champion by hand it is a critical
    finding and the blocking check fails naming it; its malformed `data_versions` tag and the
    promotion no alias record holds are high findings (the audit carries on)."""
    client = use_tracking(lakehouse.mlflow_tracking_uri)
    client.set_registered_model_alias(MODEL, CHAMPION, "2")
    client.set_model_version_tag(MODEL, "2", "data_versions", '{"dev.churn.training_set": "x"}')
    result = audit(lakehouse, instance)
    _, evaluation = report(result)
    assert not evaluation.passed and evaluation.check_name == CHECK
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert f"champion_not_validated on {MODEL}/2" in evaluation.description
    assert "unrecorded_promotion" not in evaluation.description  # high, not critical
    assert not result.success  # blocking: the run fails
    rows = Catalog(lakehouse.root, lakehouse.env).read(TABLE).filter(
        pl.col("securable") == f"{MODEL}/2")
    assert dict(rows.select("kind", "severity").rows()) == {
        "champion_not_validated": CRITICAL, "champion_without_lineage": "high",
        "unrecorded_promotion": "high"}
