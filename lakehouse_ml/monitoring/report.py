"""The drift report of one monitor refresh: a standalone HTML page (baseline-vs-current
distribution plots of the drifting columns, a table of every column's drift metrics and level)
written under the lakehouse root and logged to MLflow on a run of the `monitoring` experiment.

`pii`-tagged columns are named with their level only: never plotted, no metric, and a slice
whose slicing expression names a pii column (`email`, `upper(email)`) shows no value. A table
the catalog has not registered has unknown tags: every column is treated as pii (fail
closed), and the report says why."""

from __future__ import annotations

import base64
import html
import io
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ml.registry import TrackingUnavailable, use_experiment, use_tracking
from lakehouse_ml.ml.run_process import process_tags
from lakehouse_ml.monitoring.baseline import baseline_frame
from lakehouse_ml.monitoring.levels import ERROR, WindowDrift, categorical
from lakehouse_ml.monitoring.pii import HIDDEN as HIDDEN
from lakehouse_ml.monitoring.pii import masked_slice_value, pii_of
from lakehouse_ml.monitoring.pii import pii_columns as pii_columns
from lakehouse_ml.monitoring.schema import BASELINE, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import Monitor
from lakehouse_ml.monitoring.windows import MonitorError, utc_time

MAX_PLOTS = 12
"""Drifting columns plotted per report (ERROR first, then the largest value); others listed."""
MAX_PLOT_ROWS = 200_000
"""Rows of each side sampled for a plot."""
MAX_BINS = 30
MAX_CATEGORIES = 15
"""Most frequent categories (over both sides) drawn; the rest are one `(other)` bar."""
MAX_TABLE_ROWS = 2_000
"""Rows of each HTML table (slices can be many); the rest are counted."""
EXPERIMENT = "monitoring"
ARTIFACT_PATH = "drift_reports"
METRICS = ("js_distance", "population_stability_index", "wasserstein_distance",
           "ks_test.pvalue", "chi_squared_test.pvalue", "tv_distance", "l_infinity_distance",
           "avg_delta", "percent_null_delta")


@dataclass(frozen=True)
class Report:
    path: Path
    plotted: tuple[str, ...]
    """Columns plotted, in the report's order."""
    not_plotted: tuple[str, ...]
    """Drifting columns left out: pii, missing from a side, or beyond MAX_PLOTS."""


def report_path(root: str, env: str, monitor: Monitor, window_start: datetime) -> Path:
    """`<root>/<env>/_monitoring/reports/<schema>_<table>/<window start>.html` (a local root;
    ValueError for an object-store root, whose reports live in MLflow only)."""
    if "://" in root and not root.startswith("file://"):
        raise ValueError(f"drift reports are written under a local lakehouse root, not {root}")
    folder = Path(root.removeprefix("file://")) / env / "_monitoring" / "reports"
    stamp = window_start.strftime("%Y-%m-%dT%H%M%SZ")
    return folder / monitor.metric_table_prefix.split(".", 1)[1] / f"{stamp}.html"


def _sample(frame: pl.DataFrame | None, column: str) -> pl.Series | None:
    if frame is None or column not in frame.columns:
        return None
    series = frame[column].drop_nulls()
    if series.dtype.is_float():
        series = series.filter(series.is_finite())
    return series.sample(MAX_PLOT_ROWS, seed=0) if series.len() > MAX_PLOT_ROWS else series


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot(column: str, level: str, baseline: pl.Series, current: pl.Series,
          as_categories: bool) -> str:
    """A base64 PNG: overlaid density histograms (shared bins) of a numeric column, or side
    by side category shares of a categorical one."""
    figure = Figure(figsize=(6, 3))
    axes = figure.subplots()
    if as_categories:
        shares = [side.cast(pl.String).value_counts(normalize=True, name="share")
                  for side in (baseline, current)]
        top = (pl.concat(shares).group_by(column).agg(pl.col("share").sum())
               .sort("share", column, descending=True).head(MAX_CATEGORIES)[column].to_list())
        labels = [*top, "(other)"]
        x = np.arange(len(labels))
        for offset, (name, side) in zip((-0.2, 0.2), (("baseline", shares[0]),
                                                      ("current", shares[1])), strict=True):
            lookup = dict(side.iter_rows())
            values = [lookup.get(t, 0.0) for t in top]
            axes.bar(x + offset, [*values, max(0.0, 1 - sum(values))], width=0.4, label=name)
        axes.set_xticks(x, [str(label)[:20] for label in labels], rotation=45, ha="right")
        axes.set_ylabel("share of rows")
    else:
        values = np.concatenate([baseline.cast(pl.Float64).to_numpy(),
                                 current.cast(pl.Float64).to_numpy()])
        edges = np.histogram_bin_edges(values, bins=min(MAX_BINS, max(1, len(np.unique(values)))))
        for name, side in (("baseline", baseline), ("current", current)):
            axes.hist(side.cast(pl.Float64).to_numpy(), bins=edges, density=True, alpha=0.5,
                      label=name)
        axes.set_ylabel("density")
    axes.set_title(f"{column} ({level})")
    axes.legend()
    # fixed margins, room for 20-character tick labels at 45 degrees (bbox_inches="tight"
    # would draw the whole figure once more to measure it)
    figure.subplots_adjust(left=0.16, right=0.97, top=0.9, bottom=0.45 if as_categories else 0.12)
    return _png(figure)


def _metrics_table(drift: pl.DataFrame, levels: pl.DataFrame, pii: Collection[str]
                   ) -> pl.DataFrame:
    """Every column and slice of `drift` with its metrics and level (`-` when none); pii
    columns' metrics and pii slices' values replaced by HIDDEN."""
    values = [(pl.col(m.split(".")[0]).struct.field(m.split(".")[1]) if "." in m
               else pl.col(m)).cast(pl.Float64).round(4).cast(pl.String).alias(m)
              for m in METRICS]
    key = ["slice_key", "slice_value", "column_name"]
    worst = (levels.sort(pl.col("level") == ERROR, descending=True)
             .unique(key, keep="first").select(*key, "level"))
    table = (drift.filter(pl.col("column_name") != TABLE_LEVEL)
             .select(*key, "data_type", *values)
             .join(worst, on=key, how="left", nulls_equal=True)
             .with_columns(pl.col("level").fill_null("-")))
    hidden = pl.col("column_name").is_in(list(pii))
    return table.with_columns(
        masked_slice_value(table["slice_key"].unique().to_list(), pii),
        *(pl.when(hidden).then(pl.lit(HIDDEN)).otherwise(pl.col(m)).alias(m) for m in METRICS),
    ).sort(pl.col("level") == "-", pl.col("level") != ERROR, "column_name", "slice_key",
           "slice_value", nulls_last=False)


def _html_table(frame: pl.DataFrame) -> str:
    """At most MAX_TABLE_ROWS rows, then a line counting the rest."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>"
                                    for v in row) + "</tr>"
                   for row in frame.head(MAX_TABLE_ROWS).iter_rows())
    more = (f"<p>... and {frame.height - MAX_TABLE_ROWS} more rows.</p>"
            if frame.height > MAX_TABLE_ROWS else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def write_report(path: Path, monitor: Monitor, window: tuple[datetime, datetime],
                 drift: pl.DataFrame, levels: pl.DataFrame, *,
                 current: pl.DataFrame | None, baseline: pl.DataFrame | None,
                 pii: Collection[str] = (), table_version: int | None = None,
                 pii_note: str | None = None) -> Report:
    """Write the HTML report of one window to `path` (folders created) and return it.

    drift: the window's BASELINE drift rows (DRIFT_METRICS); levels: `drift_levels` of them;
    current / baseline: the rows compared (None when unavailable: no plots). Plots the
    whole-table drift of at most MAX_PLOTS flagged columns, ERROR before WARN then by value.
    `pii_note`: why every column is treated as pii (shown on the page)."""
    whole = levels.filter(pl.col("slice_key").is_null())
    ranked = (whole.sort(pl.col("level") == ERROR, pl.col("value").abs(), descending=True)
              .unique("column_name", keep="first", maintain_order=True))
    plots, plotted, skipped = [], [], []
    data_types = dict(drift.select("column_name", "data_type").unique("column_name").iter_rows())
    for column, level in ranked.select("column_name", "level").iter_rows():
        sides = _sample(baseline, column), _sample(current, column)
        if column in pii or len(plotted) >= MAX_PLOTS or any(
                s is None or s.is_empty() for s in sides):
            skipped.append(column)
            continue
        kind = (categorical(monitor, column, data_types.get(column))
                or not sides[0].dtype.is_numeric())
        plots.append(f'<figure><img alt="{html.escape(column)}" src="data:image/png;base64,'
                     f'{_plot(column, level, sides[0], sides[1], kind)}"></figure>')
        plotted.append(column)
    flagged = levels.select("column_name", "slice_key", "slice_value", "level").with_columns(
        masked_slice_value(levels["slice_key"].unique().to_list(), pii))
    title = (f"Drift report: {monitor.table}, window {window[0].isoformat()} .. "
             f"{window[1].isoformat()}")
    summary = (f"{levels.filter(pl.col('level') == ERROR).height} ERROR and "
               f"{levels.filter(pl.col('level') != ERROR).height} WARN (column, slice) pairs "
               f"against the baseline; monitored table version {table_version}.")
    not_plotted = (f"<p>Drifting but not plotted (pii, no rows on a side, or over {MAX_PLOTS} "
                   f"plots): {html.escape(', '.join(skipped))}</p>" if skipped else "")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:90%}}figure{{display:inline-block}}</style>
</head><body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>
{f"<p><strong>{html.escape(pii_note)}</strong></p>" if pii_note else ""}
<h2>Drifting columns and slices</h2>{_html_table(flagged)}
<h2>Baseline vs current</h2>{"".join(plots) or "<p>No plot.</p>"}{not_plotted}
<h2>All columns</h2>{_html_table(_metrics_table(drift, levels, pii))}
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return Report(path, tuple(plotted), tuple(skipped))


def log_report(tracking_uri: str, report: Report, monitor: Monitor, env: str,
               window: tuple[datetime, datetime], levels: pl.DataFrame) -> str:
    """Log the report as an artifact (`drift_reports/<file>`) of a new run of the
    `/<env>/monitoring` experiment, with the counts of flagged pairs as metrics; returns the
    run id."""
    client = use_tracking(tracking_uri)
    use_experiment(client, f"/{env}/{EXPERIMENT}")
    with mlflow.start_run(run_name=f"{monitor.table} {window[0].date().isoformat()}",
                          tags=process_tags()) as run:
        mlflow.set_tags({"monitored_table": monitor.table, "window_start": window[0].isoformat(),
                         "window_end": window[1].isoformat()})
        mlflow.log_metrics({
            "error_pairs": levels.filter(pl.col("level") == ERROR).height,
            "warn_pairs": levels.filter(pl.col("level") != ERROR).height,
            "plotted_columns": len(report.plotted)})
        mlflow.log_artifact(str(report.path), ARTIFACT_PATH)
    return run.info.run_id


@dataclass(frozen=True)
class Published:
    """A refresh's report: where it was written and the MLflow run holding it."""

    report: Report | None
    run_id: str | None
    problems: tuple[str, ...]
    """Why no report, no plot data or no MLflow run (the refresh itself succeeded)."""


def _window_rows(catalog: Catalog, monitor: Monitor, window: tuple[datetime, datetime],
                 version: int, columns: list[str]) -> pl.DataFrame:
    """The monitored table's `columns` in `window` at `version` (a snapshot: every row)."""
    scan = catalog.scan(monitor.table, version)
    schema = scan.collect_schema()
    present = [c for c in columns if c in schema]
    if monitor.profile_type == "snapshot" or monitor.timestamp_col is None:
        return scan.select(present).collect()
    time = utc_time(monitor.timestamp_col, schema[monitor.timestamp_col],
                    f"monitor of {monitor.table}")
    return scan.filter(time >= window[0], time < window[1]).select(present).collect()


def compared_frames(catalog: Catalog, monitor: Monitor, found: WindowDrift, version: int,
                    client: MlflowClient | None, pii: Collection[str]
                    ) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(current, reference) rows of the window's flagged non-pii columns: the reference is the
    baseline for BASELINE drift, the previous window for CONSECUTIVE. MonitorError when the
    baseline cannot be read; (rows, None) while there is no baseline yet."""
    assert found.window is not None
    columns = [c for c in dict.fromkeys(found.levels["column_name"]) if c not in pii]
    current = _window_rows(catalog, monitor, found.window, version, columns)
    if found.drift_type == BASELINE:
        base = baseline_frame(catalog, monitor.baseline, client=client) if (
            monitor.baseline is not None) else None
        return current, None if base is None else base.frame.select(
            [c for c in columns if c in base.frame.columns])
    cmp = found.drift["window_cmp"].drop_nulls()
    if cmp.is_empty():
        return current, None
    previous = (cmp.struct.field("start")[0], cmp.struct.field("end")[0])
    return current, _window_rows(catalog, monitor, previous, version, columns)


def publish_report(catalog: Catalog, monitor: Monitor, found: WindowDrift, *, version: int,
                   tracking_uri: str, client: MlflowClient | None = None) -> Published:
    """Write the report of `found`'s window under the (local) lakehouse root and log it to
    MLflow (`log_report`). Never raises for what the data or MLflow hold: a baseline that
    cannot be read gives a report without plots, an unreachable tracking server a report
    without a run, an object-store root a run without a local file; `problems` says so."""
    if found.window is None:
        return Published(None, None, (found.nothing_to_compare or "no drift window",))
    problems: list[str] = []
    pii, pii_note = pii_of(catalog, monitor.table)
    if pii_note is not None:
        problems.append(pii_note)
    try:
        current, reference = compared_frames(catalog, monitor, found, version, client, pii)
    except (MonitorError, MlflowException, OSError) as error:
        problems.append(f"no plots: {error}")
        current = reference = None
    try:
        path = report_path(catalog.root, catalog.env, monitor, found.window[0])
    except ValueError as error:
        problems.append(str(error))
        path = Path(tempfile.mkdtemp()) / f"{found.window[0].strftime('%Y-%m-%dT%H%M%SZ')}.html"
    report = write_report(path, monitor, found.window, found.drift, found.levels,
                          current=current, baseline=reference, pii=pii, table_version=version,
                          pii_note=pii_note)
    try:
        run_id = log_report(tracking_uri, report, monitor, catalog.env, found.window,
                            found.levels)
    except (MlflowException, TrackingUnavailable, OSError) as error:
        problems.append(f"not logged to MLflow ({tracking_uri}): {error}")
        run_id = None
    return Published(report, run_id, tuple(problems))
