"""The drift report against hostile content: pii behind slicing expressions, a monitored table
the catalog has not registered (its pii tags unknown: fail closed), markup in values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.monitoring.levels import drift_levels, latest_drift
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.report import HIDDEN, publish_report, write_report
from lakehouse_ml.monitoring.spec import BaselineTable, Monitor

from .drift_frames import DAY, drift_frame, drift_row

SECRET = "alice.secret@example.com"
MARKUP = "<script>alert('x')</script>\n<img src=x onerror=alert(1)>"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_slice_of_an_expression_over_a_pii_column_shows_no_value(tmp_path: Path) -> None:
    frame = drift_frame(
        drift_row("spend", js_distance=0.5, slice_key="upper(email)",
                  slice_value=SECRET.upper()),
        drift_row("spend", js_distance=0.5, slice_key="EMAIL", slice_value=SECRET),
        drift_row("spend", js_distance=0.5, slice_key="plan", slice_value="pro"))
    monitor = Monitor("gold.t", "snapshot")
    page = write_report(tmp_path / "r.html", monitor, (DAY, DAY + timedelta(days=1)), frame,
                        drift_levels(frame, monitor), current=None, baseline=None,
                        pii={"email"}).path.read_text()
    assert SECRET.upper() not in page and SECRET not in page
    assert page.count(HIDDEN) == 4  # both slices, in the flagged table and the metrics table
    assert "pro" in page  # a slice on a column that is not pii keeps its value


def test_markup_in_values_and_slices_is_escaped(tmp_path: Path) -> None:
    frame = drift_frame(drift_row(MARKUP, data_type="String", js_distance=0.5,
                                  slice_key=MARKUP, slice_value=MARKUP))
    monitor = Monitor("gold.t", "snapshot")
    current = pl.DataFrame({MARKUP: [MARKUP, "b"] * 10})
    page = write_report(tmp_path / "r.html", monitor, (DAY, DAY + timedelta(days=1)), frame,
                        drift_levels(frame, monitor), current=current,
                        baseline=pl.DataFrame({MARKUP: ["a", "b"] * 10})).path.read_text()
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


def lakehouse(root: Path) -> tuple[Catalog, Monitor]:
    rng = np.random.default_rng(0)

    def rows(day: int, shift: float) -> pl.DataFrame:
        return pl.DataFrame({
            "ts": [T0 + timedelta(days=day, minutes=int(m)) for m in rng.integers(0, 1440, 300)],
            "spend": rng.normal(shift, 1, 300),
            "email": rng.choice([SECRET, "bob@example.com"], 300),
            "plan": rng.choice(["basic", "pro"], 300)})

    catalog = Catalog(str(root), "dev")
    info = TableInfo(owner="t", column_tags={"email": ("pii",)})
    for table, frame in (("gold.reference", rows(0, 0.0)), ("gold.activity", rows(1, 3.0))):
        catalog.create_table(table, frame.schema, info)
        catalog.append(table, frame)
    monitor = Monitor("gold.activity", "time_series", timestamp_col="ts",
                      slicing_exprs=("email", "plan"), baseline=BaselineTable("gold.reference"))
    return catalog, monitor


def test_an_unregistered_table_is_reported_with_every_column_as_pii(tmp_path: Path) -> None:
    catalog, monitor = lakehouse(tmp_path / "lake")
    result = refresh(catalog, monitor)
    found = latest_drift(catalog, monitor)
    assert found.levels.filter(pl.col("slice_key") == "plan").height  # drift in its slices
    entry, = (tmp_path / "lake").glob("*/_catalog/gold/activity.json")
    entry.unlink()  # the table stays on storage; the catalog no longer knows its tags

    published = publish_report(catalog, monitor, found, version=result.table_version,
                               tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")

    assert published.report is not None and published.run_id is not None
    why, = (p for p in published.problems if "pii tags are unknown" in p)
    assert "gold.activity" in why and "every column is treated as pii" in why
    page = published.report.path.read_text()
    assert why.split(": ")[0] in page  # the page says why nothing is shown
    assert published.report.plotted == ()  # no column is plotted
    assert SECRET not in page and "basic" not in page and "pro<" not in page


def test_the_metric_tables_hold_no_pii_in_clear(tmp_path: Path) -> None:
    catalog, monitor = lakehouse(tmp_path / "lake")
    monitor = Monitor(monitor.table, "time_series", timestamp_col="ts",
                      slicing_exprs=("email", "upper(email)", "plan"),
                      baseline=monitor.baseline)

    result = refresh(catalog, monitor)

    assert result.profile_rows and result.drift_rows
    for table in (monitor.profile_metrics_table, monitor.drift_metrics_table):
        text = catalog.read(table).write_ndjson()
        assert SECRET not in text and SECRET.upper() not in text, table
    profile = catalog.read(monitor.profile_metrics_table)
    sliced = profile.filter(pl.col("slice_key") == "email", pl.col("column_name") == "spend")
    assert sliced.height == 2 and sliced["slice_value"].str.starts_with("sha256:").all()
    email = profile.filter(pl.col("column_name") == "email", pl.col("slice_key").is_null())
    items = email["frequent_items"][0].struct.field("item")
    assert items.str.starts_with("sha256:").all() and items.len() == 2
    assert email["min"][0] is None and email["quantiles"][0] is None
    plan = profile.filter(pl.col("slice_key") == "plan")["slice_value"].unique().sort()
    assert plan.to_list() == ["basic", "pro"]  # not pii: in clear
    drift = catalog.read(monitor.drift_metrics_table)
    assert drift.filter(pl.col("drift_type") == "BASELINE",
                        pl.col("slice_key") == "email").height  # hashed after matching
