"""The audit writer: each record's fields, batching, redaction, a bounded buffer."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.audit import MAX_VALUE, audit_log
from lakehouse_ml.governance.audit_chain import GENESIS, HEAD_FILE, TABLE
from tests.governance.audit_support import cli, rows, write, writer


def test_record_fields_and_hash(catalog: Catalog) -> None:
    before = datetime.now(UTC)
    with writer(catalog) as log:
        request_id = log.record(
            user="alice@example.com", service="unityCatalog", action="getTable",
            params={"securable": "dev.silver.customers"}, status_code=403,
            error="PERMISSION_DENIED: alice lacks SELECT", source="serving", run_id="r-1")
        log.flush()
    after = datetime.now(UTC)
    row = rows(catalog).row(0, named=True)
    assert before <= row["event_time"] <= after
    assert row["event_date"] == row["event_time"].date()
    assert row["workspace_id"] == "dev"
    assert row["user_identity"] == {"email": "alice@example.com"}
    assert (row["service_name"], row["action_name"]) == ("unityCatalog", "getTable")
    assert row["request_id"] == request_id and len(request_id) == 32
    assert row["request_params"] == [{"key": "securable", "value": "dev.silver.customers"}]
    assert row["response"] == {"status_code": 403, "result": None,
                               "error_message": "PERMISSION_DENIED: alice lacks SELECT"}
    assert (row["source"], row["run_id"]) == ("serving", "r-1")
    assert (row["sequence"], row["prev_hash"]) == (1, GENESIS)
    body = {  # the documented canonical form, built here independently
        "event_time": row["event_time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event_date": row["event_date"].isoformat(), "workspace_id": "dev",
        "user_identity": {"email": "alice@example.com"}, "service_name": "unityCatalog",
        "action_name": "getTable", "request_id": request_id,
        "request_params": [["securable", "dev.silver.customers"]],
        "response": {"status_code": 403, "error_message": row["response"]["error_message"],
                     "result": None},
        "source": "serving", "run_id": "r-1", "sequence": 1, "prev_hash": GENESIS}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row["hash"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_many_records_few_commits_and_chained(catalog: Catalog) -> None:
    with writer(catalog, flush_rows=200) as log:
        ids = [log.record(user="svc-pipeline", service="unityCatalog", action="getTable",
                          source="pipeline") for _ in range(1000)]
    frame = rows(catalog)
    assert frame["request_id"].to_list() == ids
    assert frame["sequence"].to_list() == list(range(1, 1001))
    assert frame["prev_hash"].to_list()[1:] == frame["hash"].to_list()[:-1]
    assert catalog.version(TABLE) <= 6  # create + at most 1000/200 appends


def test_a_second_writer_continues_the_chain(catalog: Catalog) -> None:
    for _ in range(2):
        with writer(catalog) as log:
            log.record(user="a", service="unityCatalog", action="getTable")
    frame = rows(catalog)
    assert frame["sequence"].to_list() == [1, 2]
    assert frame["prev_hash"][1] == frame["hash"][0]


def test_secrets_redacted_and_values_capped(catalog: Catalog) -> None:
    with writer(catalog) as log:
        log.record(user="a", service="serving", action="createToken", params={
            "password": "hunter2", "note": "Authorization: Bearer abc.def.ghi",
            "token": "lhm_0123456789abcdef_s3cret", "query": "x" * 5000},
            error="token=zz9top " + "y" * 5000)
    row = rows(catalog).row(0, named=True)
    params = {p["key"]: p["value"] for p in row["request_params"]}
    stored = json.dumps(row, default=str)
    for secret in ("hunter2", "abc.def.ghi", "s3cret", "zz9top"):
        assert secret not in stored
    assert params["password"] == params["token"] == "[redacted]"
    assert params["query"].startswith("x" * MAX_VALUE) and len(params["query"]) < MAX_VALUE + 200
    assert hashlib.sha256(b"x" * 5000).hexdigest() in params["query"]
    assert len(row["response"]["error_message"]) < MAX_VALUE + 200


def test_unwritable_table_keeps_records_then_records_the_drop(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "lakehouse"
    root.mkdir()
    (root / "dev").write_text("not a directory")  # nothing can be written under the root
    catalog = Catalog(str(root), "dev")
    with writer(catalog, max_buffered=5) as log:
        ids = [log.record(user="a", service="unityCatalog", action="getTable")
               for _ in range(8)]
        with pytest.raises(OSError):
            log.flush()
        assert log.dropped == 3
        (root / "dev").unlink()
        log.flush()
        assert log.dropped == 0
    frame = rows(catalog)
    first = frame.row(0, named=True)
    assert first["action_name"] == "auditRecordsDropped"
    assert first["request_params"] == [{"key": "count", "value": "3"}]
    assert frame["request_id"].to_list()[1:] == ids[:5]
    assert "buffer full" in caplog.text


def test_audit_log_is_one_writer_per_lakehouse(tmp_path: Path) -> None:
    first = audit_log(str(tmp_path), "dev")
    assert audit_log(f"{tmp_path}/", "dev") is first
    assert audit_log(str(tmp_path), "prod") is not first
    first.record(user="a", service="unityCatalog", action="getTable")
    first.flush()
    assert Catalog(str(tmp_path), "dev").read(TABLE).height == 1


def _checkpoint(catalog: Catalog) -> Path:
    return Path(catalog.root) / catalog.env / HEAD_FILE


def test_a_stale_checkpoint_is_caught_up_from_the_table(catalog: Catalog) -> None:
    """A writer that died between its commit and moving the checkpoint: the next one reads
    the head from the table, so the chain neither forks nor repeats a sequence."""
    write(catalog, 2)
    stale = _checkpoint(catalog).read_text()
    write(catalog, 3)
    _checkpoint(catalog).write_text(stale)
    write(catalog, 1)
    frame = rows(catalog)
    assert frame["sequence"].to_list() == list(range(1, 7))
    assert frame["prev_hash"].to_list()[1:] == frame["hash"].to_list()[:-1]
    assert json.loads(_checkpoint(catalog).read_text())["sequence"] == 6


def test_an_unreadable_checkpoint_is_rebuilt_and_verify_names_it(
        catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    write(catalog, 2)
    _checkpoint(catalog).write_text("{not json")
    result = cli("audit", "verify")
    assert result.exit_code == 1 and "audit_head.json is unreadable" in result.stderr
    write(catalog, 1)
    assert "rebuilding the head checkpoint" in caplog.text
    assert rows(catalog)["sequence"].to_list() == [1, 2, 3]
    assert cli("audit", "verify").exit_code == 0

