"""The audit writer's cheap paths keep its semantics: the caller only enqueues, the flusher's
canonical form is the documented JSON, a failed write keeps records redacted (never as given),
in order, one record per call, and the chain verifies."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.audit import read_head
from lakehouse_ml.governance.audit_chain import SCHEMA, canonical, verify
from lakehouse_ml.serving.redact import CREDENTIAL, REDACTED, Redactor
from tests.governance.audit_support import rows, writer

TEXT = st.text(st.characters(codec=None, categories=None), max_size=30)
"""Any code point, lone surrogates and control characters included."""
OPTIONAL = st.none() | TEXT
PARAMS = st.lists(st.fixed_dictionaries({"key": TEXT, "value": TEXT}), max_size=4)


def _documented(record: dict[str, object]) -> bytes:
    """The canonical form as audit_chain's docstring states it, built with `json.dumps`."""
    body = {k: v for k, v in record.items() if k != "hash"}
    at, day = record["event_time"], record["event_date"]
    body["event_time"] = None if at is None else at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body["event_date"] = None if day is None else day.isoformat()
    params = record["request_params"]
    body["request_params"] = None if params is None else [[p["key"], p["value"]]
                                                          for p in params]
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                      ).encode("utf-8", "surrogatepass")


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "event_time": st.none() | st.datetimes(timezones=st.just(UTC)),
    "event_date": st.none() | st.dates(), "workspace_id": OPTIONAL,
    "user_identity": st.none() | st.fixed_dictionaries({"email": OPTIONAL}),
    "service_name": OPTIONAL, "action_name": OPTIONAL, "request_id": OPTIONAL,
    "request_params": st.none() | PARAMS,
    "response": st.none() | st.fixed_dictionaries({
        "status_code": st.none() | st.integers(-2**31, 2**31 - 1),
        "error_message": OPTIONAL, "result": OPTIONAL}),
    "source": OPTIONAL, "run_id": OPTIONAL,
    "sequence": st.none() | st.integers(-2**63, 2**63 - 1), "prev_hash": OPTIONAL,
    "hash": OPTIONAL}))
def test_canonical_is_the_documented_json_for_any_record(record: dict[str, object]) -> None:
    assert set(record) == set(SCHEMA.names())
    assert canonical(record) == _documented(record)


def test_a_record_with_other_columns_is_not_canonical() -> None:
    record = {name: None for name in SCHEMA.names()}
    record["extra"] = "x"
    try:
        canonical(record)
    except ValueError as error:
        assert "extra" in str(error)
    else:
        raise AssertionError("a record with a column the log does not have was hashed")


PIECES = st.sampled_from(["lhm_", "LHM_", "0123456789abcdef", "_", "bearer", "Basic", " ",
                          "\u2003", "\n", "token", "api-key", "password", ":", "=", "x", "é",
                          "K", "ſ", "K"])


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES | TEXT, max_size=12).map("".join))
def test_a_value_without_a_possible_credential_is_stored_as_the_full_scan_stores_it(
        text: str) -> None:
    """`field` skips the credential scan for text without `lhm_`, a space, `:` or `=`:
    whatever the text, the stored value is the full scan's."""
    redactor = Redactor((), 64)
    assert redactor.field("note", text) == ("note", CREDENTIAL.sub(REDACTED, text[:64 + 256]))


def test_a_remembered_name_keeps_its_rule_and_credentials_are_not_remembered() -> None:
    redactor = Redactor({"email"}, 1024)
    for _ in range(2):  # worked out, then remembered
        assert redactor.field("Pass-Word", "hunter2") == ("Pass-Word", REDACTED)
        assert redactor.field("user_email", "a@b.c")[1].startswith("sha256:")
        assert redactor.field("note", "hello") == ("note", "hello")
    token = "lhm_0123456789abcdef_s3cret"
    assert redactor.field(token, "v") == (REDACTED, "v")
    assert redactor.field(token, "v") == (REDACTED, "v")
    assert not any("s3cret" in name for name in redactor._names), "a credential is kept"
    for i in range(5000):  # a client's keys: memory stays bounded, rules still hold
        redactor.field(f"k{i}", "v")
    assert len(redactor._names) <= 4096
    assert redactor.field("password_4999", "hunter2") == ("password_4999", REDACTED)


def test_recording_costs_the_caller_microseconds_while_the_flusher_writes(
        catalog: Catalog) -> None:
    """Redaction, the hash chain and the Delta write happen on the flusher thread: the
    calling thread's own CPU per record stays far under 0.05 ms (the flush is ~0.2 ms)."""
    with writer(catalog, flush_rows=100, flush_seconds=0.05) as log:
        started = time.thread_time()
        for i in range(2000):
            log.record(user="svc", service="serverlessRealTimeInference",
                       action="queryEndpoint", source="serving",
                       params={"endpoint": "churn_clf", "request_id": f"{i:032x}",
                               "note": "Authorization: Bearer abc.def"})
        spent = time.thread_time() - started
    assert spent / 2000 < 0.05e-3, f"{spent / 2000 * 1e6:.1f} µs of the caller per record"
    frame = rows(catalog)
    assert frame.height == 2000 and "abc.def" not in str(frame["request_params"].to_list())
    verify(frame, read_head(catalog))


def test_a_failed_write_keeps_records_redacted_in_order_and_writes_each_once(
        tmp_path: Path) -> None:
    root = tmp_path / "lakehouse"
    root.mkdir()
    blocker = root / "dev"
    blocker.write_text("not a directory")  # nothing can be written under the root
    catalog = Catalog(str(root), "dev")
    with writer(catalog) as log:
        first = [log.record(user="a", service="unityCatalog", action="getTable",
                            params={"password": "hunter2", "note": f"token=zz9top{i}"})
                 for i in range(3)]
        try:
            log.flush()
        except OSError:
            pass
        else:
            raise AssertionError("the write should have failed")
        held = repr(vars(log))
        assert "hunter2" not in held and "zz9top" not in held, "kept as given"
        second = [log.record(user="a", service="unityCatalog", action="getTable")
                  for _ in range(3)]
        blocker.unlink()
        log.flush()
    frame = rows(catalog)
    assert frame["request_id"].to_list() == first + second
    assert frame["sequence"].to_list() == list(range(1, 7))
    assert "hunter2" not in str(frame.to_dicts()) and "zz9top" not in str(frame.to_dicts())
    verify(frame, read_head(catalog))


def test_concurrent_callers_one_record_each_in_their_order_and_a_verifiable_chain(
        catalog: Catalog) -> None:
    """Callers on 4 threads while the flusher writes every 50 records: each call is one
    record, each thread's records keep its order, the chain verifies."""
    with writer(catalog, flush_rows=50, flush_seconds=0.02) as log:
        ids: dict[int, list[str]] = {}

        def caller(thread: int) -> None:
            ids[thread] = [log.record(user=f"u{thread}", service="unityCatalog",
                                      action="getTable", params={"i": str(i)})
                           for i in range(300)]

        threads = [threading.Thread(target=caller, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    frame = rows(catalog)
    assert frame.height == 1200 and frame["request_id"].n_unique() == 1200
    for thread, expected in ids.items():
        mine = frame.filter(frame["user_identity"].struct["email"] == f"u{thread}")
        assert mine["request_id"].to_list() == expected
    assert verify(frame, read_head(catalog)).sequence == 1200
    assert all(isinstance(d, date) and isinstance(t, datetime)
               for d, t in frame.select("event_date", "event_time").rows())
