"""Audit of operations: stale assets (a declared freshness missed), failed runs
(`monitoring.failed_runs`), denied attempts (`governance.audit_log`, status 403) and the audit
chain's integrity.

Rules (severity: kind): an asset whose last materialization is older than its declared policy,
or that never materialized — medium: `stale_asset`; a run that failed in the window — medium:
`failed_run`; denied attempts of one principal on one securable in the window — low, medium
from `DENIAL_BURST` on: `denied_attempts`; a broken audit chain or unreadable head checkpoint —
critical: `audit_chain_broken`; no audit record at all — high: `audit_log_empty`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_TABLE
from lakehouse_ml.governance.audit_chain import ChainBroken
from lakehouse_ml.governance.audit_read import (
    SECURABLE_PARAM,
    CheckpointUnreadable,
    NothingToVerify,
    verify_log,
)
from lakehouse_ml.governance.findings import CRITICAL, HIGH, LOW, MEDIUM, Finding
from lakehouse_ml.governance.securables import SECURABLE_TYPES
from lakehouse_ml.monitoring.failed_runs import TABLE as FAILED_RUNS

DENIAL_BURST = 20
MAX_LISTED = 200
"""Failed runs and denial groups reported at most (the most recent, the largest)."""


@dataclass(frozen=True)
class AssetFreshness:
    """An asset's declared freshness (`fail_after`: at most this old) and its last
    materialization (None: never), or `failing`: why a freshness check says it is stale."""

    asset: str
    fail_after: timedelta | None
    last_materialized: datetime | None
    failing: str = ""


def stale(assets: list[AssetFreshness], now: datetime) -> list[Finding]:
    findings = []
    for asset in assets:
        if asset.failing:
            findings.append(Finding(MEDIUM, "stale_asset", asset.asset, asset.failing))
        elif asset.fail_after is not None and asset.last_materialized is None:
            findings.append(Finding(MEDIUM, "stale_asset", asset.asset, f"asset {asset.asset} "
                                    f"was never materialized (must be at most "
                                    f"{asset.fail_after} old)"))
        elif asset.fail_after is not None and asset.last_materialized is not None and (
                now - asset.last_materialized > asset.fail_after):
            findings.append(Finding(MEDIUM, "stale_asset", asset.asset, f"asset {asset.asset} "
                                    f"was last materialized {asset.last_materialized.isoformat()}"
                                    f", {now - asset.last_materialized} ago (must be at most "
                                    f"{asset.fail_after} old)"))
    return findings


def failed_runs(catalog: Catalog, since: datetime) -> tuple[pl.DataFrame, list[Finding]]:
    """The runs `monitoring.failed_runs` records as failed at or after `since` (an absent
    table: none; it is written by the failed-runs sensor)."""
    columns = ["run_id", "job_name", "failed_at", "error_message"]
    if not catalog.exists(FAILED_RUNS):
        return pl.DataFrame(schema={c: pl.String for c in columns}), []
    runs = (catalog.scan(FAILED_RUNS).filter(pl.col("failed_at") >= since)
            .sort("failed_at", descending=True).head(MAX_LISTED).select(columns).collect())
    return runs, [Finding(MEDIUM, "failed_run", row["run_id"], f"run {row['run_id']} of "
                          f"{row['job_name']} failed at {row['failed_at'].isoformat()}: "
                          f"{row['error_message'][:300]}")
                  for row in runs.iter_rows(named=True)]


def denied(catalog: Catalog, since: datetime) -> tuple[pl.DataFrame, list[Finding]]:
    """Denied attempts (status 403) at or after `since`, counted per principal and securable
    (the record's `securable` param without its type, `TABLE dev.silver.t` as
    `dev.silver.t`; `(none)` when it names none)."""
    schema = {"principal": pl.String, "securable": pl.String, "attempts": pl.UInt32,
              "last": pl.Datetime("us", "UTC")}
    if not catalog.exists(AUDIT_TABLE):
        return pl.DataFrame(schema=schema), []
    securable = (pl.col("request_params").list.eval(pl.element().filter(
        pl.element().struct.field("key") == SECURABLE_PARAM).struct.field("value"))
        .list.first().str.replace(f"^({'|'.join(SECURABLE_TYPES)}) ", "")
        .fill_null("(none)"))
    groups = (catalog.scan(AUDIT_TABLE)
              .filter(pl.col("event_time") >= since,
                      pl.col("response").struct.field("status_code") == 403)
              .group_by(pl.col("user_identity").struct.field("email").alias("principal"),
                        securable.alias("securable"))
              .agg(pl.len().alias("attempts"), pl.col("event_time").max().alias("last"))
              .sort(["attempts", "principal", "securable"], descending=[True, False, False])
              .head(MAX_LISTED).collect())
    return groups, [Finding(MEDIUM if row["attempts"] >= DENIAL_BURST else LOW,
                            "denied_attempts", row["securable"],
                            f"{row['principal']!r} was denied {row['attempts']} time(s) on "
                            f"{row['securable']} in the audited window")
                    for row in groups.iter_rows(named=True)]


def chain(catalog: Catalog) -> tuple[str, list[Finding]]:
    """(one sentence on the audit chain, its findings)."""
    try:
        head, version = verify_log(catalog)
    except (ChainBroken, CheckpointUnreadable) as error:
        return str(error), [Finding(CRITICAL, "audit_chain_broken", AUDIT_TABLE, str(error))]
    except NothingToVerify as error:
        return str(error), [Finding(HIGH, "audit_log_empty", AUDIT_TABLE, str(error))]
    return (f"intact: {head.sequence} records chained, table version {version}", [])
