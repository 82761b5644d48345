"""Audit of the champions: for each registered model's `champion` version, its data lineage
(`upstream`: every table, with the versions read, and landed file it comes from, as the
lineage tables record it, see `lineage_query`; and the Delta versions its `data_versions` tag
pins), its validation gates, who promoted it and when (`<schema>.alias_changes`, written by
every alias move), and the data-quality status of its inputs (the latest results of their
asset checks, given by the caller).

Rules (severity: kind): a champion that has not passed its gates (`validation_status` not
`passed`, or a `gate.*` metric of 0) — critical: `champion_not_validated`; without
`data_versions` — high: `champion_without_lineage`; pinning a table that is gone or a version
the table never reached — high: `lineage_unreachable`; whose promotion is in no alias record —
high: `unrecorded_promotion`; an input whose latest check failed — high (ERROR) or medium
(WARN): `input_check_failed`; an input without any check result — info: `input_unchecked`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.findings import CRITICAL, HIGH, INFO, MEDIUM, Finding
from lakehouse_ml.governance.findings_catalog import ModelEntry
from lakehouse_ml.governance.lineage import MODEL, TABLE
from lakehouse_ml.governance.lineage_query import (
    UPSTREAM,
    LineageAnswer,
    UnknownLineageName,
    lineage,
)
from lakehouse_ml.ml.registry import CHAMPION
from lakehouse_ml.ml.retraining import DATA_VERSIONS, VALIDATION_STATUS

MAX_MODELS = 1000
"""Registered models read from MLflow at most (pages of 100)."""
GATE_TAG, GATE_METRIC = "validation.", "gate."


@dataclass(frozen=True)
class CheckStatus:
    """The latest result of one asset check of an input table."""

    check: str
    passed: bool
    severity: str
    """`ERROR` or `WARN`."""
    evaluated_at: datetime | None = None
    description: str = ""


@dataclass(frozen=True)
class Upstream:
    """A table or landed file a champion comes from, as the lineage tables record it."""

    type: str
    """TABLE or PATH (a landed file, by its manifest path)."""
    name: str
    versions: tuple[int, ...]
    """The Delta versions read on the way to the champion (none for a file)."""
    depth: int
    """Hops from the model version (1: its training set)."""
    checks: tuple[CheckStatus, ...] = ()


@dataclass(frozen=True)
class Champion:
    model: str
    version: int
    run_id: str
    data_versions: dict[str, int]
    validation_status: str
    gates: dict[str, str]
    """Gate → `passed`/`FAILED` and its detail (version tags and run metrics)."""
    promoted_by: str = ""
    promoted_at: datetime | None = None
    reason: str = ""
    inputs: dict[str, list[CheckStatus]] = field(default_factory=dict)
    upstream: list[Upstream] = field(default_factory=list)
    lineage: LineageAnswer | None = None
    """The upstream lineage answer (None: no lineage recorded for the version)."""


def registered_models(client: MlflowClient) -> list[tuple[ModelEntry, int | None]]:
    """Every registered model (at most MAX_MODELS) with its champion version (None: none)."""
    found, token = [], None
    while len(found) < MAX_MODELS:
        page = client.search_registered_models(max_results=100, page_token=token)
        for model in page:
            champion = (model.aliases or {}).get(CHAMPION)
            found.append((ModelEntry(model.name, model.description or "", dict(model.tags or {})),
                          None if champion is None else int(champion)))
        token = page.token
        if not token:
            break
    return found[:MAX_MODELS]


def _pins(tag: str | None) -> dict[str, int]:
    """The `data_versions` tag as table → version; {} when it is absent or malformed."""
    try:
        pins = json.loads(tag) if tag else {}
        return {str(t): int(v) for t, v in pins.items()} if isinstance(pins, dict) else {}
    except (ValueError, TypeError):
        return {}


def _promotion(catalog: Catalog, model: str, version: int) -> tuple[str, datetime | None, str]:
    """(actor, when, reason) of the latest move of `champion` to `version`, ('', None, '')
    when no alias record says so."""
    table = f"{model.split('.')[1]}.alias_changes"
    if not catalog.exists(table):
        return "", None, ""
    moves = (catalog.scan(table).filter(pl.col("model") == model, pl.col("alias") == CHAMPION,
                                        pl.col("to_version") == version)
             .sort("changed_at").tail(1).collect())
    if moves.is_empty():
        return "", None, ""
    row = moves.row(0, named=True)
    return row["actor"], row["changed_at"], row["reason"]


def _upstream(catalog: Catalog, model: str, version: int,
              checks: Mapping[str, Sequence[CheckStatus]]
              ) -> tuple[LineageAnswer | None, list[Upstream]]:
    """The version's upstream lineage and its tables and files, nearest first."""
    try:
        answer = lineage(catalog, f"{model}/{version}", UPSTREAM)
    except UnknownLineageName:
        return None, []
    read: dict[object, set[int]] = {}
    for link in answer.links:
        read.setdefault(link.source, set()).update(link.source_versions)
    return answer, [Upstream(v.type, v.name, tuple(sorted(read.get(v, ()))), depth,
                             tuple(checks.get(v.name, ())) if v.type == TABLE else ())
                    for v, depth in answer.vertices() if v.type != MODEL]


def champion(catalog: Catalog, client: MlflowClient, model: str, version: int,
             checks: Mapping[str, Sequence[CheckStatus]]) -> Champion:
    """What the audit reports about `model`'s champion `version`; `checks`: full table name
    → the latest results of its asset checks."""
    found = client.get_model_version(model, str(version))
    tags = found.tags or {}
    gates = {k.removeprefix(GATE_TAG): v for k, v in tags.items() if k.startswith(GATE_TAG)}
    if found.run_id:
        metrics = client.get_run(found.run_id).data.metrics
        for name, value in metrics.items():
            if name.startswith(GATE_METRIC):
                gate = name.removeprefix(GATE_METRIC)
                verdict = "passed" if value >= 1 else "FAILED"
                gates[gate] = f"{verdict} {gates.get(gate, '')}".strip()
    pins = _pins(tags.get(DATA_VERSIONS))
    actor, when, reason = _promotion(catalog, model, version)
    answer, upstream = _upstream(catalog, model, version, checks)
    return Champion(model, version, found.run_id or "", pins,
                    tags.get(VALIDATION_STATUS, ""), dict(sorted(gates.items())), actor, when,
                    reason, {t: list(checks.get(t, ())) for t in sorted(pins)}, upstream,
                    answer)


def champion_findings(catalog: Catalog, found: Champion) -> list[Finding]:
    name = f"{found.model}/{found.version}"
    what = f"champion version {found.version} of {found.model}"
    findings = []
    failed = sorted(g for g, v in found.gates.items() if v.startswith("FAILED"))
    if found.validation_status != "passed" or failed:
        why = f"gates failed: {', '.join(failed)}" if failed else (
            f"validation_status is {found.validation_status or 'not set'}")
        findings.append(Finding(CRITICAL, "champion_not_validated", name,
                                f"{what} serves without having passed its gates ({why})"))
    if not found.data_versions:
        findings.append(Finding(HIGH, "champion_without_lineage", name, f"{what} has no "
                                f"{DATA_VERSIONS} tag: the data it learned from is unknown"))
    for table, version in found.data_versions.items():
        if not catalog.exists(table):
            findings.append(Finding(HIGH, "lineage_unreachable", name, f"{what} was trained "
                                    f"from {table}@{version}, a table that no longer exists"))
        elif catalog.version(table) < version:
            findings.append(Finding(HIGH, "lineage_unreachable", name, f"{what} pins "
                                    f"{table}@{version}, beyond the table's latest version "
                                    f"{catalog.version(table)}"))
    if not found.promoted_by:
        findings.append(Finding(HIGH, "unrecorded_promotion", name, f"{what} got its alias "
                                "outside the lifecycle: no alias record says who promoted it"))
    for table, results in found.inputs.items():
        if not results:
            findings.append(Finding(INFO, "input_unchecked", table, f"input {table} of {what} "
                                    "has no asset check result"))
        for result in results:
            if not result.passed:
                severity = HIGH if result.severity == "ERROR" else MEDIUM
                findings.append(Finding(severity, "input_check_failed", table,
                                        f"input {table} of {what}: its check {result.check} "
                                        f"failed ({result.severity})"))
    return findings
