"""The HTML drift report: plots of the drifting columns only (bounded), every column's
metrics, pii columns named but never plotted or shown with values, logged to MLflow."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient

from lakehouse_ml.monitoring import report as report_module
from lakehouse_ml.monitoring.levels import drift_levels
from lakehouse_ml.monitoring.report import log_report, report_path, write_report
from lakehouse_ml.monitoring.spec import Monitor

from .drift_frames import DAY, drift_frame, drift_row

MONITOR = Monitor("gold.customer_features", "snapshot")
WINDOW = (DAY, DAY + timedelta(days=1))
SECRET = "alice.secret@example.com"


def sides(rows: int = 500) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(3)
    baseline = pl.DataFrame({
        "spend": rng.normal(0, 1, rows), "tenure": rng.normal(10, 2, rows),
        "plan": rng.choice(["basic", "pro"], rows),
        "email": [f"user{i}@example.com" for i in range(rows)],
    })
    current = pl.DataFrame({
        "spend": rng.normal(3, 1, rows), "tenure": rng.normal(10, 2, rows),
        "plan": rng.choice(["basic", "pro", "enterprise"], rows),
        "email": [SECRET] * rows,
    })
    return baseline, current


def drift() -> pl.DataFrame:
    return drift_frame(
        drift_row("spend", js_distance=0.61, ks_test=(0.7, 1e-9)),
        drift_row("tenure", js_distance=0.02, ks_test=(0.05, 0.6)),
        drift_row("plan", data_type="String", js_distance=0.15),
        drift_row("email", data_type="String", js_distance=0.87654),
        drift_row("spend", js_distance=0.3, slice_key="email", slice_value=SECRET),
    )


def images(page: str) -> list[str]:
    return re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"',
                      page)


def test_report_plots_the_drifting_columns_and_hides_pii(tmp_path: Path) -> None:
    frame = drift()
    levels = drift_levels(frame, MONITOR)
    baseline, current = sides()
    path = report_path(str(tmp_path / "lake"), "dev", MONITOR, DAY)
    report = write_report(path, MONITOR, WINDOW, frame, levels, current=current,
                          baseline=baseline, pii={"email"}, table_version=7)
    assert path == (tmp_path / "lake" / "dev" / "_monitoring" / "reports"
                    / "gold_customer_features" / "2026-03-10T000000Z.html")
    page = path.read_text()
    assert images(page) == ["spend", "plan"]  # ERROR before WARN; tenure did not drift
    assert report.plotted == ("spend", "plan") and report.not_plotted == ("email",)
    assert "email" in page and SECRET not in page and "0.8765" not in page
    assert "(pii: not shown)" in page
    assert "tenure" in page and "0.02" in page  # every column is in the metrics table
    assert "version 7" in page


def test_report_without_data_has_the_table_and_no_plot(tmp_path: Path) -> None:
    frame = drift()
    report = write_report(tmp_path / "r.html", MONITOR, WINDOW, frame,
                          drift_levels(frame, MONITOR), current=None, baseline=None,
                          pii={"email"})
    page = report.path.read_text()
    assert images(page) == [] and "No plot." in page and "0.61" in page
    assert set(report.not_plotted) == {"spend", "plan", "email"}


def test_plots_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "MAX_PLOTS", 1)
    frame = drift()
    baseline, current = sides(50)
    report = write_report(tmp_path / "r.html", MONITOR, WINDOW, frame,
                          drift_levels(frame, MONITOR), current=current, baseline=baseline,
                          pii={"email"})
    assert images(report.path.read_text()) == ["spend"]
    assert report.not_plotted == ("email", "plan")


def test_report_is_logged_to_the_monitoring_experiment(tmp_path: Path) -> None:
    frame = drift()
    levels = drift_levels(frame, MONITOR)
    report = write_report(tmp_path / "r.html", MONITOR, WINDOW, frame, levels, current=None,
                          baseline=None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id = log_report(uri, report, MONITOR, "dev", WINDOW, levels)
    client = MlflowClient(uri, uri)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "/dev/monitoring"
    assert run.data.metrics["error_pairs"] == 3  # spend, email, spend in the email slice
    assert run.data.metrics["warn_pairs"] == 1  # plan
    assert run.data.tags["monitored_table"] == "gold.customer_features"
    logged = Path(client.download_artifacts(run_id, "drift_reports/r.html", str(tmp_path / "d")))
    assert logged.read_text() == report.path.read_text()


def test_object_store_root_has_no_local_report_path() -> None:
    with pytest.raises(ValueError, match="s3://bucket/lake"):
        report_path("s3://bucket/lake", "dev", MONITOR, DAY)


def test_tables_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "MAX_TABLE_ROWS", 2)
    frame = drift()
    page = write_report(tmp_path / "r.html", MONITOR, WINDOW, frame,
                        drift_levels(frame, MONITOR), current=None, baseline=None,
                        pii={"email"}).path.read_text()
    assert "... and 3 more rows." in page  # 5 columns and slices, 2 shown
    assert "... and 2 more rows." in page  # 4 flagged pairs, 2 shown
