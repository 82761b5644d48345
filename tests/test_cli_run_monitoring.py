"""`lakehouse-ml run` refreshes a domain's monitors whenever its daily refresh succeeded, even
when its model has no champion (training fails its gates or its data, so batch scoring fails):
the feature tables' monitors need no model. The failure is still reported and `run` exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.generator import MIN_TRAINABLE_DAYS

runner = CliRunner()


def test_run_refreshes_the_monitors_when_the_model_has_no_champion(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    catalog = Catalog(settings.root, settings.env)
    generated = runner.invoke(
        app, ["generate", "--customers", "20", "--days", str(MIN_TRAINABLE_DAYS)])
    assert generated.exit_code == 0, generated.output

    result = runner.invoke(app, ["run"], prog_name="lakehouse-ml")

    # 20 customers: version 1 fails its validation gate, so there is no champion
    assert result.exit_code == 1, result.output
    assert ("churn_clf_batch_score: step churn__predictions failed: dev.churn.churn_clf has no "
            "champion yet") in result.stderr, result.output
    assert ("churn: churn_monitoring_refresh (although churn_clf_batch_score failed: the "
            "feature tables' monitors need no champion)") in result.stdout, result.output
    assert "churn_monitoring_refresh" not in result.stderr, result.output  # it succeeded
    for kind in ("profile", "drift"):  # the feature table's monitor, written without a model
        assert catalog.read(f"monitoring.gold_customer_engagement_{kind}_metrics").height
