"""`monitoring.failed_runs`: one row per failed pipeline run, for the governance report.

Columns (FAILED_RUNS): `run_id`, `job_name`, `failed_at` (UTC), `error_message` (the run's
failure and its first step's error, at most MAX_ERROR characters), `tags` (the run's tags as a
JSON object, at most MAX_TAGS characters), `recorded_at` (UTC). Credentials in the message and
the tags (bearer tokens, `password=...`, ...) are replaced by `[redacted]` before they are
stored. Recording a run again replaces its row (merge on `run_id`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.ingest.bronze import create_once
from lakehouse_ml.serving.redact import CREDENTIAL, REDACTED

TABLE = "monitoring.failed_runs"
_UTC = pl.Datetime("us", "UTC")
FAILED_RUNS = pl.Schema({
    "run_id": pl.String, "job_name": pl.String, "failed_at": _UTC,
    "error_message": pl.String, "tags": pl.String, "recorded_at": _UTC,
})
MAX_ERROR = 2000
MAX_TAGS = 2000
MAX_TAG = 256
"""Characters of one tag key or value kept."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _clean(text: str, limit: int) -> str:
    return _cut(CREDENTIAL.sub(REDACTED, text[:limit + 256]), limit)


def tags_json(tags: Mapping[str, str]) -> str:
    """`tags` as a JSON object of at most MAX_TAGS characters: keys and values cut to MAX_TAG
    characters and cleared of credentials, in key order until the next would not fit (how
    many were left out under `...more`)."""
    items = sorted(tags.items())
    kept: dict[str, str] = {}
    for count, (key, value) in enumerate(items):
        trial = {**kept, _clean(str(key), MAX_TAG): _clean(str(value), MAX_TAG)}
        left = len(items) - count - 1
        if len(_json({**trial, **({"...more": str(left)} if left else {})})) > MAX_TAGS:
            return _json({**kept, "...more": str(left + 1)})
        kept = trial
    return _json(kept)


def _json(value: dict[str, str]) -> str:
    return json.dumps(value, separators=(",", ":"))


def record_failed_run(catalog: Catalog, run_id: str, job_name: str, failed_at: datetime,
                      error_message: str, tags: Mapping[str, str]) -> None:
    """Write (or replace) the row of failed run `run_id`; `failed_at` is an aware datetime."""
    create_once(catalog, TABLE, FAILED_RUNS, TableInfo(
        owner="team:ml", comment="Every failed run of the pipeline's code location: job, time, "
        "error (cut, credentials redacted) and tags.", tags={"layer": "monitoring"}))
    row = pl.DataFrame([(
        run_id, _cut(job_name, MAX_TAG), failed_at.astimezone(UTC),
        _clean(error_message, MAX_ERROR), tags_json(tags), datetime.now(UTC),
    )], schema=FAILED_RUNS, orient="row")
    catalog.merge(TABLE, row, keys=["run_id"])
