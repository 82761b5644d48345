"""`lakehouse-ml reproduce`: a model version's training set rebuilt from its pinned Delta
versions is proved identical; a vacuumed pinned version, an erased subject and a tampered data
file are each named. On a copy of the shared churn history, a real MLflow store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.training_table import write_training_set
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.reproduce import ERASURE_ACTIONS
from lakehouse_ml.governance.reproduce_hash import TAG, TrainingSetDigest
from lakehouse_ml.ml.candidate import train_candidate
from lakehouse_ml.ml.registry import CHAMPION, use_tracking
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from tests.conftest import history_copy

NAME = MODEL.registered_name("dev")
FEATURES = "dev.gold.customer_engagement"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings) -> Settings:
    """The churn history's tables, its training set written and version 1 of the model
    trained on it and made champion."""
    settings = history_copy(churn_history, tmp_path_factory.mktemp("reproduce"))
    catalog = Catalog(settings.root, "dev")
    write_training_set(FeatureEngineeringClient(catalog), MODEL.training_set)
    client = use_tracking(settings.mlflow_tracking_uri)
    candidate = train_candidate(catalog, client, MODEL)
    client.set_registered_model_alias(NAME, CHAMPION, str(candidate.version))
    return settings


@pytest.fixture
def lakehouse(trained: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of `trained` (tables and MLflow store), the CLI's environment set."""
    for part in ("lakehouse", "mlflow"):
        shutil.copytree(Path(trained.root).parent / part, tmp_path / part)
    settings = Settings(str(tmp_path / "lakehouse"), trained.landing, "dev",
                        f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    for key, value in {"LAKEHOUSE_ROOT": settings.root, "LAKEHOUSE_LANDING": settings.landing,
                       "LAKEHOUSE_ENV": "dev",
                       "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}.items():
        monkeypatch.setenv(key, value)
    return settings


def pinned(settings: Settings) -> tuple[dict[str, int], str]:
    tags = use_tracking(settings.mlflow_tracking_uri).get_model_version(NAME, "1").tags
    return json.loads(tags[DATA_VERSIONS]), tags[TAG]


def reproduce(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["reproduce", *args])
    return result.exit_code, result.output


def test_untouched_version_is_identical(lakehouse: Settings) -> None:
    versions, recorded = pinned(lakehouse)
    stored = Catalog(lakehouse.root, "dev").read("churn.training_set",
                                                  versions["dev.churn.training_set"])
    assert recorded == TrainingSetDigest.of(stored).sha256

    for subject in ("churn_clf", "churn_clf/1"):  # the champion, and the version named
        code, out = reproduce(subject)
        assert code == 0, out
        assert "is identical" in out and recorded in out and f"{stored.height} rows" in out


def tamper_pinned_features(settings: Settings, *, fix_log: bool) -> tuple[int, int]:
    """One more visit in every row of the pinned feature table version's files (same file
    names); with `fix_log` the Delta log's sizes are made to match, as a careful forger would.
    Returns the version and how many data files it has (one per snapshot day: the table is
    partitioned by its timestamp)."""
    versions = pinned(settings)[0]
    catalog = Catalog(settings.root, "dev")
    location = Path(catalog.location(FEATURES))
    sizes = {}
    for file in catalog.lake.table(str(location), versions[FEATURES]).file_uris():
        pl.read_parquet(file).with_columns(pl.col("events_7d") + 1).write_parquet(file)
        sizes[Path(file).name] = Path(file).stat().st_size
    for commit in (location / "_delta_log").glob("*.json") if fix_log else ():
        actions = [json.loads(line) for line in commit.read_text().splitlines() if line]
        for action in actions:
            name = Path(action.get("add", {}).get("path", "")).name  # after a partition dir
            if name in sizes:
                action["add"]["size"] = sizes[name]
        commit.write_text("".join(json.dumps(a) + "\n" for a in actions))
    return versions[FEATURES], len(sizes)


def test_rewritten_feature_file_is_refused_naming_it(lakehouse: Settings) -> None:
    version, files = tamper_pinned_features(lakehouse, fix_log=False)

    code, out = reproduce("churn_clf/1")

    assert code == 1 and out.count("\n") == 1
    assert (f"time travel can no longer reach {FEATURES} version {version} as committed "
            f"({files} of its data files changed after their commit, e.g. ") in out
    assert "the log records" in out


def test_tampered_feature_values_are_reported(lakehouse: Settings) -> None:
    tamper_pinned_features(lakehouse, fix_log=True)
    recorded = pinned(lakehouse)[1]

    code, out = reproduce("churn_clf/1")

    assert code == 1 and out.count("\n") == 1
    assert "differs" in out and recorded in out
    assert "columns whose values differ: events_7d" in out
    assert "only in the rebuild" in out


def vacuum_pinned_features(settings: Settings) -> tuple[int, int]:
    """Rewrite the pinned feature table and VACUUM: its pinned version's files are gone.
    Returns the version and how many data files it had."""
    catalog = Catalog(settings.root, "dev")
    version = pinned(settings)[0][FEATURES]
    location = str(catalog.location(FEATURES))
    files = len(catalog.lake.table(location, version).file_uris())
    catalog.overwrite(FEATURES, catalog.read(FEATURES))
    catalog.vacuum(FEATURES, 0, enforce_retention_duration=False)
    return version, files


def test_vacuumed_version_is_refused_naming_table_and_version(lakehouse: Settings) -> None:
    version, files = vacuum_pinned_features(lakehouse)

    code, out = reproduce("churn_clf")

    assert code == 1 and out.count("\n") == 1
    assert (f"time travel can no longer reach {FEATURES} version {version} as committed "
            f"(VACUUM deleted {files} of its data files" in out)
    assert "erased" not in out


def test_erasure_after_training_is_named(lakehouse: Settings) -> None:
    version, _ = vacuum_pinned_features(lakehouse)
    log = audit_log(lakehouse.root, "dev")
    log.record(user="dpo@example.com", service="governance", action=ERASURE_ACTIONS[0],
               params={"key": "customer_id=<sha256>"})
    log.flush()

    code, out = reproduce("churn_clf/1")

    assert code == 1 and f"{FEATURES} version {version}" in out
    assert "a data subject was erased after training" in out and "dpo@example.com" in out


def test_needs_execute_on_the_model_then_select_on_the_pinned_tables(lakehouse: Settings
                                                                    ) -> None:
    """EXECUTE on the model is decided first (before the champion is looked up); with it,
    SELECT on each pinned table."""
    code, out = reproduce("churn_clf", "--as", "nobody@example.com")
    assert code == 1 and out.count("\n") == 1
    assert f"permission denied: 'nobody@example.com' does not have EXECUTE on MODEL {NAME}" \
        in out

    metastore = Metastore(lakehouse.root, "dev")
    metastore.add_principal("nobody@example.com")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "nobody@example.com")
    metastore.grant(["USE SCHEMA", "EXECUTE"], "SCHEMA", "churn", "nobody@example.com")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "gold", "nobody@example.com")
    code, out = reproduce("churn_clf", "--as", "nobody@example.com")
    assert code == 1 and out.count("\n") == 1
    assert ("permission denied: 'nobody@example.com' does not have SELECT on TABLE "
            f"{FEATURES}" in out)


@pytest.mark.parametrize("subject", ["churn_clf/x", "churn_clf/0", "/1"])
def test_malformed_subject_is_a_usage_error(lakehouse: Settings, subject: str) -> None:
    code, out = reproduce(subject)
    assert code == 2 and "MODEL/VERSION" in out
