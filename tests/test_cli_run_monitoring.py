"""`lakehouse-ml run` (what `make run` runs) on a small demo: 20 customers over the fewest
trainable days: the session's `small_run` (tests/conftest.py), one `run` shared by this file's
tests and tests/governance/test_openlineage_cli.py (it is the costly part).

It refreshes a domain's monitors whenever its daily refresh succeeded, even when its model has
no champion (training fails its gates or its data, so batch scoring fails): the feature
tables' monitors need no model. The failure is still reported and `run` exits 1. It ends with
the governance audit: `governance_audit` after every domain's jobs, the report's path printed,
today's findings in `governance.findings`, the HTML report on disk."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.findings import TABLE
from tests.conftest import SmallRun


def test_run_refreshes_the_monitors_when_the_model_has_no_champion(
    small_run: SmallRun,
) -> None:
    result, settings = small_run.result, small_run.settings
    catalog = Catalog(settings.root, settings.env)

    # 20 customers: version 1 fails its validation gate, so there is no champion
    assert result.exit_code == 1, result.output
    assert ("churn_clf_batch_score: step churn__predictions failed: dev.churn.churn_clf has no "
            "champion yet") in result.stderr, result.output
    assert ("churn: churn_monitoring_refresh (although churn_clf_batch_score failed: the "
            "feature tables' monitors need no champion)") in result.stdout, result.output
    assert "churn_monitoring_refresh" not in result.stderr, result.output  # it succeeded
    for kind in ("profile", "drift"):  # the feature table's monitor, written without a model
        assert catalog.read(f"monitoring.gold_customer_engagement_{kind}_metrics").height


def test_run_ends_with_the_governance_audit(small_run: SmallRun) -> None:
    result, settings = small_run.result, small_run.settings

    lines = result.stdout.splitlines()
    audit = lines.index("governance_audit: the whole lakehouse, every domain")
    assert audit > max(i for i, line in enumerate(lines) if line.startswith("churn: "))
    assert "governance_audit" not in result.stderr, result.output  # no critical finding
    page = re.search(r"governance report: (\S+\.html) \(critical 0, high \d+\)", result.stdout)
    assert page is not None, result.output
    assert Path(page.group(1)).is_file()
    assert Path(page.group(1)).is_relative_to(settings.root)
    findings = Catalog(settings.root, settings.env).read(TABLE)
    assert findings.filter(pl.col("audit_date") == datetime.now(UTC).date()).height > 0
    assert re.search(r"run \S+ \(governance_audit\) succeeded", result.stdout)  # check passed


def test_run_without_dagster_home_says_its_runs_are_not_kept(small_run: SmallRun) -> None:
    """`small_run` runs without DAGSTER_HOME: its runs go to a temporary instance, which the
    UI never shows; the command says so (a stranger looked for them in `make ui`)."""
    assert ("DAGSTER_HOME is not set: these runs use a temporary Dagster instance"
            in small_run.result.output)
