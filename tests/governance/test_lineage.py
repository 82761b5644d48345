"""Lineage recorded by the catalog while Dagster materializes the churn medallion and feature
tables (two runs: day 1, then day 2), and answered for tables, columns and landed files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.governance import GROUP, Metastore, PermissionDenied
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_TABLE
from lakehouse_ml.governance.lineage import PATH, TABLE, TABLE_LINEAGE, close_lineage_logs
from lakehouse_ml.governance.lineage_query import (
    DOWNSTREAM,
    REDACTED,
    UPSTREAM,
    UnknownLineageName,
    Vertex,
    lineage,
)
from lakehouse_ml.governance.lineage_render import lineage_html, lineage_markdown
from tests.conftest import day_keys, materialize, project_instance

DAYS = day_keys()[:2]


class Built:
    def __init__(self, settings: Settings, runs: list[dg.ExecuteInProcessResult],
                 versions: dict[str, int]) -> None:
        self.settings, self.runs, self.versions = settings, runs, versions
        self.catalog = Catalog(settings.root, settings.env)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, landed) -> Built:
    """Day 1 in one run, day 2 in a second, on one Dagster instance with the project's storage
    (`project_instance`; Dagster's default SQLite storage costs ~2.5 CPU-s more a run);
    `versions`: each table's version after the first run."""
    folder = tmp_path_factory.mktemp("lineage")
    shutil.copytree(landed[0], folder / "landing")
    settings = Settings(str(folder / "lakehouse"), str(folder / "landing"), "dev", "")
    with project_instance() as instance:
        first = materialize(settings, DAYS[:1], instance=instance)
        catalog = Catalog(settings.root, settings.env)
        versions = {t.name: catalog.version(t.name) for t in catalog.tables()}
        second = materialize(settings, DAYS[1:], instance=instance)
    assert first.success and second.success
    audit_log(settings.root, settings.env).flush()
    close_lineage_logs()
    return Built(settings, [first, second], versions)


def recorded(built: Built) -> pl.DataFrame:
    return Catalog(built.settings.root, "dev", governed=False).read(TABLE_LINEAGE)


def audited(built: Built, run_id: str) -> dict[str, set[str]]:
    """Securables of the run's audit records by operation (READ, READ_WRITE), table creation
    left out (it writes no data)."""
    frame = Catalog(built.settings.root, "dev", governed=False).read(AUDIT_TABLE)
    found: dict[str, set[str]] = {"READ": set(), "READ_WRITE": set()}
    for row in frame.filter(pl.col("run_id") == run_id).iter_rows(named=True):
        params = {p["key"]: p["value"] for p in row["request_params"]}
        if row["action_name"] == "generateTemporaryTableCredential":
            found[params["operation"]].add(params["securable"])
    return found


def test_a_runs_lineage_is_exactly_its_audited_reads_and_writes(built: Built) -> None:
    rows = recorded(built)
    for run in built.runs:
        mine = rows.filter(pl.col("entity_run_id") == run.run_id)
        assert set(mine["entity_type"]) == {"JOB"}
        assert set(mine["entity_id"]) == {run.dagster_run.job_name}
        audit = audited(built, run.run_id)
        sources = mine.filter(pl.col("source_type") == TABLE)["source_table_full_name"]
        targets = mine.filter(pl.col("target_type") == TABLE)["target_table_full_name"]
        assert set(sources) == audit["READ"]
        assert set(targets) == audit["READ_WRITE"]
        assert len(audit["READ_WRITE"]) > 10  # bronze to gold, not a trivial run
    # each write names the version it made and each read one that existed then
    catalog = Catalog(built.settings.root, "dev", governed=False)
    for row in rows.filter(pl.col("target_type") == TABLE).iter_rows(named=True):
        history = {h["version"] for h in catalog.history(row["target_table_full_name"])}
        assert row["target_table_version"] in history
        if row["source_type"] == TABLE and row["source_table_version"] is not None:
            assert row["source_table_version"] <= row["target_table_version"] or \
                row["source_table_full_name"] != row["target_table_full_name"]


def landed_paths(built: Built, source: str, day: str) -> set[str]:
    manifest = built.catalog.read(f"bronze.{source}_manifest")
    return {p for p in manifest["path"] if f"/{day}/" in f"/{p}"}


def test_landed_file_downstream_reaches_bronze_silver_gold_and_features(built: Built) -> None:
    (path,) = sorted(landed_paths(built, "events", DAYS[0]))[:1]
    answer = lineage(built.catalog, path, DOWNSTREAM)
    names = {v.name for v, _ in answer.vertices()}
    assert answer.root == Vertex(PATH, path)
    assert {"dev.bronze.events", "dev.silver.events", "dev.gold.daily_activity",
            "dev.gold.customer_engagement"} <= names
    assert "dev.silver.orders" not in names  # another source's files feed that
    assert lineage(built.catalog, path, DOWNSTREAM, depth=1).vertices() == [
        (v, 1) for v in sorted({v for v, d in answer.vertices() if d == 1})]


def test_upstream_follows_versions_back_to_the_landed_files(built: Built) -> None:
    first, third = landed_paths(built, "events", DAYS[0]), landed_paths(built, "events", DAYS[1])
    assert first and third
    before = built.versions["dev.gold.daily_activity"]
    then = {v.name for v, _ in lineage(built.catalog, f"gold.daily_activity/{before}",
                                       UPSTREAM).vertices() if v.type == PATH}
    now = {v.name for v, _ in lineage(built.catalog, "gold.daily_activity",
                                      UPSTREAM).vertices() if v.type == PATH}
    assert first <= then and not third & then  # day 2 had not landed in that version
    assert first | third <= now
    assert not landed_paths(built, "orders", DAYS[0]) & now  # orders do not feed activity


def test_column_lineage_up_and_down(built: Built) -> None:
    down = lineage(built.catalog, "silver.orders", DOWNSTREAM, column="amount")
    columns = {(v.name, v.column) for v, _ in down.vertices()}
    assert ("dev.gold.daily_revenue", "revenue") in columns
    assert not any(c == "customers" for _, c in columns)  # from customer_id, not amount
    up = lineage(built.catalog, "gold.daily_revenue", UPSTREAM, column="revenue")
    found = {(v.type, v.name, v.column) for v, _ in up.vertices()}
    assert {(TABLE, "dev.silver.orders", "amount"), (TABLE, "dev.silver.orders", "status"),
            (TABLE, "dev.bronze.orders", "amount")} <= found
    assert landed_paths(built, "orders", DAYS[0]) <= {n for t, n, _ in found if t == PATH}
    assert (TABLE, "dev.silver.orders", "customer_id") not in found


def test_lineage_shows_only_what_the_reader_may_see(built: Built) -> None:
    metastore = Metastore(built.settings.root, "dev")
    metastore.add_principal("ann")
    metastore.add_principal("gold-readers", GROUP)
    metastore.add_member("gold-readers", "ann")
    metastore.grant(["SELECT"], "SCHEMA", "dev.gold", "gold-readers")
    ann = Catalog(built.settings.root, "dev", principal="ann")
    up = lineage(ann, "gold.daily_revenue", UPSTREAM, column="revenue")
    assert {v.name for v, _ in up.vertices()} == {REDACTED}  # silver, bronze, files hidden
    with pytest.raises(PermissionDenied, match="'ann'.*silver.orders"):
        lineage(ann, "silver.orders", DOWNSTREAM)
    audit_log(built.settings.root, "dev").flush()
    frame = Catalog(built.settings.root, "dev", governed=False).read(AUDIT_TABLE)
    asked = frame.filter((pl.col("user_identity").struct.field("email") == "ann")
                         & pl.col("action_name").is_in(["getTableLineage", "getColumnLineage"]))
    assert sorted(asked["response"].struct.field("status_code")) == [200, 403]


def test_unknown_names_and_columns_are_named(built: Built) -> None:
    with pytest.raises(UnknownLineageName, match="'silver.nope'"):
        lineage(built.catalog, "silver.nope", UPSTREAM)
    with pytest.raises(UnknownLineageName, match="no column 'nope'"):
        lineage(built.catalog, "silver.orders", UPSTREAM, column="nope")


def test_cli_json_markdown_and_html(built: Built, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEHOUSE_ROOT", built.settings.root)
    monkeypatch.setenv("LAKEHOUSE_ENV", "dev")
    page = tmp_path / "lineage.html"
    result = CliRunner().invoke(app, ["lineage", "gold.daily_revenue", "--upstream",
                                      "--column", "revenue", "--json", "--html", str(page)])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["root"] == {"type": TABLE, "name": "dev.gold.daily_revenue",
                              "column": "revenue", "redacted": False}
    assert {"dev.silver.orders"} <= {n["name"] for n in answer["nodes"]}
    html = page.read_text()
    assert html.count("<svg") == 1 and "dev.silver.orders" in html and "http" not in \
        html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    bad = CliRunner().invoke(app, ["lineage", "silver.nope", "--downstream"])
    assert bad.exit_code == 1 and bad.stderr.strip().count("\n") == 0
    assert "'silver.nope'" in bad.stderr
    both = CliRunner().invoke(app, ["lineage", "silver.orders", "--downstream", "--upstream"])
    assert both.exit_code == 2
    answer = lineage(built.catalog, "silver.orders", DOWNSTREAM)
    markdown = lineage_markdown(answer)
    assert "dev.gold.daily_revenue" in markdown
    assert markdown.count("\n|") == len(answer.links) + 2
    assert "<svg" in lineage_html([answer])
