"""When a model's drift sensor launches retraining: its `RetrainingPolicy` read against the
metric tables of the monitors that watch it.

- Drift: the BASELINE drift levels (`levels.drift_levels`) of the model's inputs, from the
  monitors of its inference logs (`inference_log.model` is the model), whose rows carry the
  input features the model scored with beside each score (`ml.scoring.score_latest`), against
  the champion's training set: the population the model scores, as Databricks measures input
  drift on the inference table. (A feature table's snapshots hold every key, those the model
  never scores too, so their drift against the training set is no drift of the model's
  inputs.) An input is a drifted column that is not the log's own (timestamp, model id,
  prediction, probability, label, scoring columns, excluded columns, lookup keys) and that
  `ModelSpec.feature_columns` keeps. A column counts when its whole-table row (no slice) is
  flagged at the policy's level or worse; flagged slices of it are evidence only (a small
  slice is noisy).
- Quality: the `:table` row (no slice) of the same monitors' profile tables: realized
  `roc_auc`, else `estimated_roc_auc` (the row without a `model_id` when there is one, else
  the worst model's).

Monitors refresh at their own pace, so a window's state takes each monitor's latest window
starting at or before it. A window is in breach when at least `min_columns` input columns
drift, or its ROC AUC is below `min_roc_auc`. An episode is the run of consecutive breached
windows ending at the latest one; its key (`<model>@<first window start>`) is the run key, so
one episode launches one run, and no launch follows another within `cooldown`.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import takewhile
from typing import Any, Literal

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureLookup
from lakehouse_ml.ml.score_schema import SCORE_COLUMNS
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.monitoring.levels import ERROR, drift_levels
from lakehouse_ml.monitoring.pii import HIDDEN, masked_slice_value, slice_pii
from lakehouse_ml.monitoring.schema import BASELINE, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import Monitor, RetrainingPolicy

Outcome = Literal["launch", "no_metrics", "no_baseline", "no_breach", "episode_launched",
                  "cooldown"]
MAX_REASON = 256
MAX_EVIDENCE = 2000
"""Characters of the reason and of the evidence's JSON (run tags are short)."""
MAX_NAME = 64
MAX_SLICES = 3
MASKED = HIDDEN
"""A slice value whose slicing expression names a pii column (`monitoring.pii.reveals_pii`):
never shown."""


@dataclass(frozen=True)
class Drifting:
    """An input column flagged (whole table) in a window: `value` of `metric` crossed
    `threshold` at `level`; `slices` (`key=value`) flagged at the same window."""

    table: str
    column: str
    metric: str
    value: float
    threshold: float
    level: str
    window: tuple[datetime, datetime]
    slices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quality:
    """The ROC AUC of one inference-log window: `source` is `roc_auc` or `estimated_roc_auc`."""

    value: float
    source: str
    window: tuple[datetime, datetime]


@dataclass(frozen=True)
class State:
    """The model's state as of the window starting at `start`."""

    start: datetime
    drifting: tuple[Drifting, ...]
    quality: Quality | None
    drift_breach: bool
    quality_breach: bool

    @property
    def breach(self) -> bool:
        return self.drift_breach or self.quality_breach


@dataclass(frozen=True)
class Decision:
    """What the sensor does: launch (`episode` is the run key) or skip, and why."""

    outcome: Outcome
    reason: str
    episode: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def launch(self) -> bool:
        return self.outcome == "launch"

    def evidence_json(self) -> str:
        """`evidence` as compact JSON of at most MAX_EVIDENCE characters: every drifting
        column when they all fit, else the first ones while they fit and how many were left
        out (`more_columns`)."""
        columns = list(self.evidence.get("drifting", ()))
        text = _json({**self.evidence, "drifting": columns})
        if len(text) <= MAX_EVIDENCE:
            return text
        text = _json({**self.evidence, "drifting": [], "more_columns": len(columns)})
        for count in range(1, len(columns)):
            trial = _json({**self.evidence, "drifting": columns[:count],
                           "more_columns": len(columns) - count})
            if len(trial) > MAX_EVIDENCE:
                break
            text = trial
        return text


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _cut(text: str, limit: int = MAX_NAME) -> str:
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def quality_monitors(model: ModelSpec, monitors: Sequence[Monitor]) -> list[Monitor]:
    """The inference-log monitors of rows `model` wrote (its inputs' drift and its quality)."""
    return [m for m in monitors if m.inference_log and m.inference_log.model == model.name]


def _is_input(model: ModelSpec, monitor: Monitor, column: str) -> bool:
    log = monitor.inference_log
    assert log is not None
    keys = {key for lookup in model.training_set.feature_lookups
            if isinstance(lookup, FeatureLookup) for key in lookup.lookup_keys}
    own = {monitor.timestamp_col, *monitor.exclude, *SCORE_COLUMNS, *keys, log.model_id_col,
           log.prediction_col, log.probability_col, log.label_col}
    return column not in own and bool(model.feature_columns([column]))


def _slice(key: str, value: str | None) -> str:
    return f"{_cut(key)}={_cut(str(value))}"


def _window(row: dict[str, Any]) -> tuple[datetime, datetime]:
    return row["window"]["start"], row["window"]["end"]


def _drift_timeline(catalog: Catalog, policy: RetrainingPolicy, model: ModelSpec,
                    monitor: Monitor) -> dict[datetime, list[Drifting]] | None:
    """Window start → input columns flagged at the policy's level (every BASELINE window of
    the monitor, flagged or not); None when the monitor has no drift table yet."""
    if not catalog.exists(monitor.drift_metrics_table):
        return None
    drift = catalog.scan(monitor.drift_metrics_table).filter(
        (pl.col("drift_type") == BASELINE) & (pl.col("column_name") != TABLE_LEVEL)).collect()
    inputs = [c for c in drift["column_name"].unique().to_list() if _is_input(model, monitor, c)]
    drift = drift.filter(pl.col("column_name").is_in(inputs))
    timeline: dict[datetime, list[Drifting]] = {
        start: [] for start in drift["window"].struct.field("start").unique().to_list()}
    if policy.on_drift_level is None:
        return timeline
    levels = drift_levels(drift, monitor)  # BASELINE rows
    if policy.on_drift_level == ERROR:
        levels = levels.filter(pl.col("level") == ERROR)
    sliced = levels.filter(pl.col("slice_key").is_not_null())
    sliced = sliced.with_columns(masked_slice_value(
        sliced["slice_key"].unique().to_list(), slice_pii(catalog, monitor.table)))
    slices: dict[tuple[str, datetime], list[str]] = {}
    for row in sliced.iter_rows(named=True):
        slices.setdefault((row["column_name"], row["window"]["start"]), []).append(
            _slice(row["slice_key"], row["slice_value"]))
    for row in levels.filter(pl.col("slice_key").is_null()).iter_rows(named=True):
        start = row["window"]["start"]
        timeline[start].append(Drifting(
            table=monitor.table, column=row["column_name"], metric=row["metric"],
            value=row["value"], threshold=row["threshold"], level=row["level"],
            window=_window(row), slices=tuple(slices.get((row["column_name"], start), ())),
        ))
    return timeline


def _quality_timeline(catalog: Catalog, monitor: Monitor) -> dict[datetime, Quality] | None:
    """Window start → ROC AUC (realized, else estimated) of the windows that have one; None
    when the monitor has no profile table yet. A window's value is its row without a model id
    when it has one, else its lowest model's; of equal values a realized one (`roc_auc`)
    before an estimated one."""
    if not catalog.exists(monitor.profile_metrics_table):
        return None
    rows = catalog.scan(monitor.profile_metrics_table).filter(
        (pl.col("column_name") == TABLE_LEVEL) & pl.col("slice_key").is_null()).select(
        "window", "model_id", pl.col("window").struct.field("start").alias("start"),
        pl.when(pl.col("roc_auc").is_not_null()).then(pl.lit("roc_auc"))
        .when(pl.col("estimated_roc_auc").is_not_null()).then(pl.lit("estimated_roc_auc"))
        .alias("source"),
        pl.coalesce("roc_auc", "estimated_roc_auc").alias("auc"),
    ).filter(pl.col("auc").is_not_null()).collect()
    overall = rows.filter(pl.col("model_id").is_null())
    worst = rows.join(overall.select("start"), on="start", how="anti")
    rows = (pl.concat([overall, worst]).sort("auc", "source", descending=[False, True])
            .group_by("start").first())  # each group keeps the frame's order: its lowest
    return {row["start"]: Quality(row["auc"], row["source"], _window(row))
            for row in rows.iter_rows(named=True)}


def _as_of(timeline: dict[datetime, Any], starts: list[datetime], start: datetime) -> Any:
    """The value of `timeline` (its keys sorted: `starts`) at its latest window starting at
    or before `start`, or None."""
    at = bisect.bisect_right(starts, start)
    return timeline[starts[at - 1]] if at else None


def states(catalog: Catalog, policy: RetrainingPolicy, model: ModelSpec,
           monitors: Sequence[Monitor]) -> list[State] | None:
    """The model's state as of each window of its monitors' metric tables, oldest first;
    None when none of them has a metric table yet (or no monitor watches the model)."""
    watching = quality_monitors(model, monitors)
    drift = [(t, sorted(t)) for m in watching
             if (t := _drift_timeline(catalog, policy, model, m)) is not None]
    quality = [(t, sorted(t)) for m in watching
               if (t := _quality_timeline(catalog, m)) is not None]
    if not drift and not quality:
        return None
    result = []
    for start in sorted({s for t, _ in (*drift, *quality) for s in t}):
        drifting = tuple(d for t, starts in drift for d in _as_of(t, starts, start) or ())
        measured = [q for t, starts in quality if (q := _as_of(t, starts, start)) is not None]
        worst = min(measured, key=lambda q: q.value) if measured else None
        result.append(State(
            start, drifting, worst,
            drift_breach=policy.on_drift_level is not None
            and len(drifting) >= policy.min_columns,
            quality_breach=policy.min_roc_auc is not None and worst is not None
            and worst.value < policy.min_roc_auc,
        ))
    return result


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _summary(policy: RetrainingPolicy, state: State) -> str:
    parts = []
    if policy.on_drift_level is not None:
        named = ", ".join(f"{_cut(d.column, 32)} {d.metric}={d.value:.3g}"
                          for d in state.drifting[:3])
        more = f" +{len(state.drifting) - 3}" if len(state.drifting) > 3 else ""
        parts.append(f"{len(state.drifting)} input column(s) at {policy.on_drift_level} drift"
                     f" (needs {policy.min_columns}){': ' + named + more if named else ''}")
    if policy.min_roc_auc is not None:
        quality = state.quality
        parts.append("no ROC AUC" if quality is None else
                     f"{quality.source} {quality.value:.3f} (bound {policy.min_roc_auc})")
    return f"window {_stamp(state.start)}: " + "; ".join(parts)


def _evidence(policy: RetrainingPolicy, state: State, first: datetime) -> dict[str, Any]:
    quality = state.quality
    return {
        "model": policy.model, "window_start": _stamp(state.start),
        "episode_start": _stamp(first),
        "policy": {"on_drift_level": policy.on_drift_level, "min_columns": policy.min_columns,
                   "min_roc_auc": policy.min_roc_auc,
                   "cooldown_hours": policy.cooldown.total_seconds() / 3600},
        "roc_auc": None if quality is None else {
            "value": round(quality.value, 4), "source": quality.source,
            "window": [_stamp(quality.window[0]), _stamp(quality.window[1])]},
        "drifting": [{
            "table": _cut(d.table), "column": _cut(d.column), "metric": d.metric,
            "value": round(d.value, 4), "threshold": d.threshold, "level": d.level,
            "window": [_stamp(d.window[0]), _stamp(d.window[1])],
            "slices": list(d.slices[:MAX_SLICES]),
            **({"more_slices": len(d.slices) - MAX_SLICES}
               if len(d.slices) > MAX_SLICES else {}),
        } for d in state.drifting],
    }


def decide(catalog: Catalog, policy: RetrainingPolicy, model: ModelSpec,
           monitors: Sequence[Monitor], *, last_launch: datetime | None,
           launched: Callable[[str], bool], now: datetime) -> Decision:
    """Launch `model`'s retraining or not, and why.

    `monitors`: the domain's (those that do not watch the model are ignored); `last_launch`:
    when the sensor last launched a run of the model (aware datetime, None: never);
    `launched(episode)`: whether a run of that episode exists. Outcomes: `no_metrics`,
    `no_breach`, `episode_launched`, `cooldown`, `launch`; the reason is at most MAX_REASON
    characters, and the evidence holds metric values, windows, column and slice names only
    (slice values masked by `monitoring.pii`'s rule: `reveals_pii`, every one when the
    monitored table does not exist)."""
    timeline = states(catalog, policy, model, monitors)
    watched = ", ".join(m.table for m in quality_monitors(model, monitors))
    if timeline is None:
        why = (f"no metric tables yet for the monitors of {watched}" if watched
               else "no monitor watches its inference log")
        return Decision("no_metrics", _cut(f"{model.name}: {why}", MAX_REASON))
    if not timeline:
        return Decision("no_baseline", _cut(
            f"{model.name}: the metric tables of {watched} have no BASELINE drift rows and no "
            "ROC AUC yet (no champion yet, whose training set is the baseline?)", MAX_REASON))
    latest = timeline[-1]
    summary = _summary(policy, latest)
    if not latest.breach:
        return Decision("no_breach", _cut(f"no breach, {summary}", MAX_REASON))
    first = list(takewhile(lambda state: state.breach, reversed(timeline)))[-1].start
    episode = f"{model.name}@{_stamp(first)}"
    evidence = _evidence(policy, latest, first)
    if launched(episode):
        return Decision("episode_launched", _cut(
            f"episode {episode} already launched a run; {summary}", MAX_REASON),
            episode, evidence)
    if last_launch is not None and now - last_launch < policy.cooldown:
        until = _stamp(last_launch + policy.cooldown)
        return Decision("cooldown", _cut(
            f"in cooldown until {until} (last launch {_stamp(last_launch)}); {summary}",
            MAX_REASON), episode, evidence)
    return Decision("launch", _cut(summary, MAX_REASON), episode, evidence)
