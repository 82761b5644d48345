"""`lakehouse-ml run` (what `make run` runs) ends with the governance audit: `governance_audit`
after every domain's jobs, the report's path printed, today's findings in
`governance.findings`, the HTML report on disk."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.generator import MIN_TRAINABLE_DAYS
from lakehouse_ml.governance.findings import TABLE

runner = CliRunner()


def test_run_ends_with_the_governance_audit(settings: Settings, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    generated = runner.invoke(
        app, ["generate", "--customers", "20", "--days", str(MIN_TRAINABLE_DAYS)])
    assert generated.exit_code == 0, generated.output

    result = runner.invoke(app, ["run"], prog_name="lakehouse-ml")

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
