"""`lakehouse-ml forget --key customer_id=1` on a copy of the churn history with a training set,
two model versions (one trained on a set without the subject), batch scores, an inference log,
a rejected and a quarantined line, and the online stores: afterwards no file under the root or
in the landing zone holds the subject's key or email (Parquet read back, Delta logs and their
checkpoints, SQLite files, landed files searched byte-wise), every other row is still there,
the right model versions are tagged, the erasure is audited with the key hashed, `reproduce`
says so, and a rerun of the pipeline neither brings the subject back nor publishes wrongly.
The dry run lists the same places and changes no byte; a principal without MODIFY is denied."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sqlite3
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.domains.churn.training import LABEL_TIME
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.training_table import write_training_set
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_LOG
from lakehouse_ml.governance.erasure_models import NEEDS_RETRAINING
from lakehouse_ml.governance.erasure_tables import tables
from lakehouse_ml.governance.reproduce import ERASURE_ACTIONS
from lakehouse_ml.ml.candidate import train_candidate
from lakehouse_ml.ml.registry import CHAMPION, model_uri, use_tracking
from lakehouse_ml.ml.scoring import score_latest
from lakehouse_ml.monitoring.pii import digest
from lakehouse_ml.serving.inference_log import InferenceLog
from tests.conftest import close_writers, history_copy, history_days, materialize

pytestmark = pytest.mark.timeout(2400)  # the module's lakehouse trains two models: minutes
NAME = MODEL.registered_name("dev")
SUBJECT, OTHER = "1", "2"
EMAIL = "user1@example.com"
KEY = re.compile(rb'customer_id\\?"\s*:\s*\\?"?\s*1\s*\\?"?\s*[,}\]]')
"""The subject's key as a JSON field: a row read back from Parquet, a log statistic (escaped
inside a JSON text), an online store's key, a landed JSON line."""


def holders(*folders: str) -> list[str]:
    """Every file under `folders` holding the subject's key or email: Parquet files read back
    whole (their pages are compressed), CSV files by their `customer_id` column, every other
    file (Delta log JSON, SQLite, JSON lines) byte-wise as it is."""
    found = []
    for folder in folders:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            data = path.read_bytes()
            if path.suffix == ".parquet":
                data = pl.read_parquet(path).write_ndjson().encode()
            elif path.suffix == ".csv":
                rows = list(csv.reader(io.StringIO(data.decode(errors="replace"))))
                at = rows[0].index("customer_id") if rows and "customer_id" in rows[0] else None
                if at is not None and any(len(r) > at and r[at].strip() == SUBJECT
                                          for r in rows[1:]):
                    found.append(str(path))
                    continue
            if KEY.search(data) or EMAIL.encode() in data:
                found.append(str(path))
    return found


def counts(settings: Settings) -> dict[str, tuple[int, int]]:
    """Table → (rows, the subject's rows: its key in `customer_id`, or named in a text)."""
    catalog = Catalog(settings.root, "dev")
    found = {}
    for table in tables(catalog):
        frame = catalog.lake.read(table.location)
        texts = [c for c, d in frame.schema.items() if d == pl.String and c != "customer_id"]
        terms = [*([pl.col("customer_id").cast(pl.String).str.strip_chars() == SUBJECT]
                   if "customer_id" in frame.columns else []),
                 *(pl.col(c).str.contains(EMAIL, literal=True)
                   | pl.col(c).str.contains(r'"customer_id":\s*1\b') for c in texts)]
        mine = frame.filter(pl.any_horizontal(terms).fill_null(False)).height if terms else 0
        found[table.name] = (frame.height, mine)
    return found


def landed(folder: str) -> tuple[int, int]:
    """(records in the landed files, the subject's): JSON lines and CSV rows."""
    records = mine = 0
    for path in Path(folder).rglob("part-*"):
        text = path.read_text()
        if path.suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            records += len(rows)
            mine += sum(r["customer_id"].strip() == SUBJECT for r in rows)
        else:
            lines = [json.loads(line) for line in text.splitlines() if line.strip()]
            records += len(lines)
            mine += sum(str(line.get("customer_id")) == SUBJECT for line in lines)
    return records, mine


def tree(*folders: str) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def cli(settings: Settings, *args: str) -> tuple[int, str]:
    env = {"LAKEHOUSE_ROOT": settings.root, "LAKEHOUSE_LANDING": settings.landing,
           "LAKEHOUSE_ENV": "dev", "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    result = CliRunner().invoke(app, list(args), env=env)
    close_writers()
    return result.exit_code, result.output


def copy(settings: Settings, base: Path) -> Settings:
    for part in ("lakehouse", "landing", "mlflow"):
        shutil.copytree(Path(settings.root).parent / part, base / part)
    return Settings(str(base / "lakehouse"), str(base / "landing"), "dev",
                    f"sqlite:///{base / 'mlflow' / 'mlflow.db'}")


def row(catalog: Catalog, table: str, **values: object) -> pl.DataFrame:
    schema = catalog.schema(table)
    return pl.DataFrame([{c: values.get(c) for c in schema}], schema=schema)


def add_rejected_lines(catalog: Catalog) -> None:
    """A line bronze rejected and one silver quarantined, for the subject and for another."""
    now = datetime.now(UTC)
    for who, email in ((SUBJECT, EMAIL), (OTHER, "user2@example.com")):
        catalog.append("bronze.customers_rejects", row(
            catalog, "bronze.customers_rejects", raw=f'{{"customer_id": {who}, "email": "{email}"',
            reason="unparseable JSON", _source_file="customers/x.json", _line=int(who),
            _record_id=f"customers/x.json#{who}", _batch_id="x", _ingested_at=now))
        catalog.append("silver.customers_quarantine", row(
            catalog, "silver.customers_quarantine", customer_id=f" {who} ", email=email,
            signup_date="not-a-date", _source_file="customers/y.csv", _line=int(who),
            _record_id=f"customers/y.csv#{who}", _batch_id="y", _ingested_at=now,
            _reasons=["signup_date: not a date"]))


def log_requests(catalog: Catalog) -> None:
    log = InferenceLog(catalog, "churn.inference_log", "team:ml", 100, 60.0, 1_000_000)
    for who in (SUBJECT, OTHER):
        log.record(request_id=f"r{who}", endpoint="churn_clf", requested_at=datetime.now(UTC),
                   status_code=200, latency_ms=3.0, caller="svc", rows=1, as_of=None,
                   model_versions=[1],
                   request=json.dumps({"dataframe_records": [{"customer_id": int(who)}]}),
                   response='{"predictions": [0.5]}', unmatched_rows=[])
    log.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings) -> Settings:
    """The churn history (its own landing), version 1 of the model trained on a training set
    holding the subject (champion), version 2 on one without it, batch scores of version 1
    for the subject and two others, an inference log, rejected and quarantined lines."""
    base = tmp_path_factory.mktemp("erasure")
    tables_only = history_copy(churn_history, base)
    shutil.copytree(churn_history.landing, base / "landing")
    settings = Settings(tables_only.root, str(base / "landing"), "dev",
                        tables_only.mlflow_tracking_uri)
    catalog = Catalog(settings.root, "dev")
    features = FeatureEngineeringClient(catalog)
    write_training_set(features, MODEL.training_set)
    client = use_tracking(settings.mlflow_tracking_uri)
    first = train_candidate(catalog, client, MODEL)
    client.set_registered_model_alias(NAME, CHAMPION, str(first.version))
    catalog.delete(MODEL.training_set.name, f'"customer_id" = {SUBJECT}')
    train_candidate(catalog, client, MODEL)  # version 2: its set never held the subject
    as_of = datetime.combine(datetime.now(UTC).date() - timedelta(days=2), time(), tzinfo=UTC)
    keys = pl.DataFrame({"customer_id": list(range(1, 31))})
    score_latest(features, model_uri(NAME, 1), 1, keys, LABEL_TIME, as_of, "churn.predictions")
    log_requests(catalog)
    add_rejected_lines(catalog)
    close_writers()
    return settings


@pytest.fixture(scope="module")
def erased(built: Settings, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Settings, dict[str, tuple[int, int]], int, str]:
    """A copy of `built` after `forget --key customer_id=1 --json`: (settings, the counts
    before, exit code, output)."""
    settings = copy(built, tmp_path_factory.mktemp("erased"))
    before = {**counts(settings), "landing": landed(settings.landing)}
    code, out = cli(settings, "forget", "--key", f"customer_id={SUBJECT}", "--json")
    return settings, before, code, out


def test_no_file_holds_the_subject_after_forget_and_every_other_row_stays(
        built: Settings, erased: tuple[Settings, dict[str, tuple[int, int]], int, str]) -> None:
    settings, before, code, out = erased
    assert code == 0, out
    held = holders(built.root, built.landing)
    kinds = {"data": ".parquet", "log": "_delta_log", "online": ".sqlite", "landed": "landing"}
    assert all(any(part in path for path in held) for part in kinds.values()), held

    assert holders(settings.root, settings.landing) == []
    after = {**counts(settings), "landing": landed(settings.landing)}
    assert after.keys() == before.keys() and before["landing"][1] > 1
    for table, (rows, mine) in before.items():
        assert after[table] == (rows - mine, 0), table
    for table in ("dev.churn.inference_log", "dev.silver.customers",
                  "dev.bronze.customers_rejects", "dev.silver.customers_quarantine"):
        assert before[table][1] >= 1 and after[table][0] >= 1, table
    report = json.loads(out)
    assert report["key"] == f"customer_id={digest(SUBJECT)}"
    erased_tables = {p["name"]: p["rows"] for p in report["places"]
                     if p["kind"] == "table" and p["rows"]}
    assert erased_tables == {t: n for t, (_, n) in before.items() if n and t != "landing"}
    assert EMAIL not in out


def test_only_the_versions_trained_on_the_subject_are_tagged(
        erased: tuple[Settings, dict[str, tuple[int, int]], int, str]) -> None:
    settings = erased[0]
    client = use_tracking(settings.mlflow_tracking_uri)
    tags = {v: client.get_model_version(NAME, v).tags for v in ("1", "2")}
    assert NEEDS_RETRAINING in tags["1"] and digest(SUBJECT) in tags["1"][NEEDS_RETRAINING]
    assert NEEDS_RETRAINING not in tags["2"]


def test_the_erasure_is_audited_once_with_the_key_hashed(
        erased: tuple[Settings, dict[str, tuple[int, int]], int, str]) -> None:
    catalog = Catalog(erased[0].root, "dev")
    log = catalog.lake.read(catalog.location(AUDIT_LOG))
    records = log.filter(pl.col("action_name") == ERASURE_ACTIONS[0])
    assert records.height == 1
    params = {p["key"]: p["value"] for p in records["request_params"][0]}
    assert params["key"] == f"customer_id={digest(SUBJECT)}"
    assert NAME + "/1" in params["model_versions"] and NAME + "/2" not in params["model_versions"]
    clear = log.select(pl.col("request_params").list.eval(
        pl.element().struct.field("value")).list.join(" ")).to_series()
    assert not clear.str.contains(r"customer_id\s*=\s*1\b|user1@example\.com").any()


def test_reproduce_says_the_subject_was_erased(
        erased: tuple[Settings, dict[str, tuple[int, int]], int, str]) -> None:
    code, out = cli(erased[0], "reproduce", "churn_clf/1")

    assert code == 1 and out.count("\n") == 1
    assert "a data subject was erased after training" in out


def test_dry_run_lists_every_place_and_changes_no_byte(
        built: Settings, erased: tuple[Settings, dict[str, tuple[int, int]], int, str],
        tmp_path: Path) -> None:
    settings = copy(built, tmp_path)
    before = tree(settings.root, settings.landing)

    code, out = cli(settings, "forget", "--key", f"customer_id={SUBJECT}", "--dry-run",
                    "--json")

    assert code == 0, out
    assert tree(settings.root, settings.landing) == before
    listed = {(p["kind"], p["name"], p["rows"]) for p in json.loads(out)["places"]}
    done = {(p["kind"], p["name"], p["rows"]) for p in json.loads(erased[3])["places"]}
    assert listed == done and len(listed) > 20


def test_a_principal_without_modify_is_denied_and_audited(built: Settings,
                                                           tmp_path: Path) -> None:
    settings = copy(built, tmp_path)
    metastore = Metastore(settings.root, "dev")
    metastore.add_principal("ann")
    metastore.grant(["USE CATALOG", "SELECT"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "bronze", "ann")

    code, out = cli(settings, "forget", "--key", f"customer_id={SUBJECT}", "--as", "ann")

    assert code == 1 and out.count("\n") == 1
    assert "'ann' does not have MODIFY on TABLE dev.bronze." in out
    catalog = Catalog(settings.root, "dev")
    log = catalog.lake.read(catalog.location(AUDIT_LOG))
    denied = log.filter((pl.col("response").struct.field("status_code") == 403)
                        & (pl.col("user_identity").struct.field("email") == "ann"))
    assert denied.height >= 1
    assert log.filter(pl.col("action_name") == ERASURE_ACTIONS[0]).height == 0
    assert counts(settings)["dev.silver.customers"][1] == 1, "nothing was erased"


@pytest.fixture(scope="module")
def built_files(built: Settings) -> dict[str, str]:
    """`built`'s files under its root and landing and their hashes (`tree`), taken once before
    the commands that must change none of them (each test compares its own command's outcome
    with it: a change by any of them fails that test)."""
    return tree(built.root, built.landing)


@pytest.mark.parametrize(("key", "said"), [
    ("customer_id", "expected COLUMN=VALUE"),
    ("=1", "expected COLUMN=VALUE"),
    ("customer_id=", "expected COLUMN=VALUE"),
    ("no_such_column=1", "no table of dev has a column 'no_such_column'"),
    ("customer_id=abc", ".customer_id is Int64, and 'abc' is not one"),
    ("customer_id=" + "9" * 300, "the value has 300 characters, at most 256"),
])
def test_a_bad_key_is_one_line_usage_error(built: Settings, built_files: dict[str, str],
                                           key: str, said: str) -> None:
    code, out = cli(built, "forget", "--key", key)

    assert code == 2 and out.count("\n") == 1 and said in out, out
    assert "9" * 300 not in out
    assert tree(built.root, built.landing) == built_files


def test_a_subject_held_nowhere_is_said_and_audited(built: Settings, tmp_path: Path) -> None:
    settings = copy(built, tmp_path)

    code, out = cli(settings, "forget", "--key", "customer_id=987654")

    assert code == 0 and "nothing to erase" in out and "987654" not in out
    catalog = Catalog(settings.root, "dev")
    records = catalog.lake.read(catalog.location(AUDIT_LOG)).filter(
        pl.col("action_name") == ERASURE_ACTIONS[0])
    assert records.height == 1
    params = {p["key"]: p["value"] for p in records["request_params"][0]}
    assert params["key"] == f"customer_id={digest('987654')}" and params["rows"] == "0"


def test_a_rerun_does_not_bring_the_subject_back_and_publishes_every_key(
        erased: tuple[Settings, dict[str, tuple[int, int]], int, str]) -> None:
    """Last: it runs the pipeline on the erased copy."""
    settings = erased[0]
    assert materialize(settings, history_days()[-2:]).success
    close_writers()

    assert holders(settings.root, settings.landing) == []
    catalog = Catalog(settings.root, "dev")
    for table in ("gold.customer_engagement", "gold.customer_profile"):
        path = Path(settings.root) / "dev" / "_online" / f"dev.{table}.sqlite"
        with sqlite3.connect(path) as connection:
            online = {json.loads(k)["customer_id"] for (k,) in connection.execute(
                "SELECT key FROM rows")}
            meta = json.loads(connection.execute("SELECT snapshot FROM meta").fetchone()[0])
        offline = set(catalog.lake.read(catalog.location(table))["customer_id"].to_list())
        assert online == offline and int(SUBJECT) not in online, table
        assert meta["published_at"] is not None and meta["version"] == catalog.version(table)
