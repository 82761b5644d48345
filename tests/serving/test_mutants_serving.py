"""The serving app's request checks, limits, inference-log redaction and `EXECUTE` decisions,
called directly (no served model): each test names what a mutant of
`lakehouse_ml/serving/{limits,request,redact,authorization}.py` would change (the `serving`
group of `bench/mutation.py`; see bench/MUTATION.md)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import fields
from datetime import UTC, datetime

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.governance import SERVICE_PRINCIPAL, Metastore
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.serving import authorization
from lakehouse_ml.serving.authorization import LOAD, SERVICE, ModelAccess, denial_message
from lakehouse_ml.serving.limits import InvalidSetting, Limits, positive
from lakehouse_ml.serving.payload import PayloadError
from lakehouse_ml.serving.redact import MAX_DEPTH, REDACTED, TOO_DEEP, Redactor, pii_hash
from lakehouse_ml.serving.request import Request, RequestSchema

# --- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [f.name for f in fields(Limits)])
@pytest.mark.parametrize("value", [0, -1, float("nan")])
def test_every_limit_must_be_positive_and_the_error_names_it(name: str, value: float) -> None:
    with pytest.raises(InvalidSetting) as error:
        Limits(**{name: value})
    assert error.value.names == (name,)
    assert error.value.problem == f"must be positive, got {value}"
    assert str(error.value) == f"{name}: must be positive, got {value}"


def test_the_smallest_positive_limits_are_accepted() -> None:
    limits = Limits(**{f.name: 1 for f in fields(Limits)} | {"header_seconds": 1e-9})
    assert limits.max_rows == 1 and limits.header_seconds == 1e-9


def test_positive_names_the_first_setting_at_fault_and_invalid_setting_joins_names() -> None:
    limits = Limits()
    positive(limits, "max_rows", "chunk_rows")  # both fine: nothing raised
    bad = type("Knobs", (), {"a": 1, "b": 0, "c": -1})()
    with pytest.raises(InvalidSetting, match=r"^b: must be positive, got 0$"):
        positive(bad, "a", "b", "c")
    error = InvalidSetting(("max_rows", "chunk_rows"), "chunk_rows exceeds max_rows")
    assert str(error) == "max_rows and chunk_rows: chunk_rows exceeds max_rows"
    assert error.names == ("max_rows", "chunk_rows")
    assert error.problem == "chunk_rows exceeds max_rows"


# --- request ----------------------------------------------------------------------------------

AT = datetime(2026, 1, 1, tzinfo=UTC)


def schema() -> RequestSchema:
    """Built in each test (not at import), so that mutmut's stats see each test reach
    `_accepts` and `_integer`."""
    return RequestSchema(pl.Schema({"id": pl.Int8}),
                         pl.Schema({"id": pl.Int8, "score": pl.Float64, "plan": pl.String,
                                    "active": pl.Boolean}))



def _refusal(schema: RequestSchema, columns: dict[str, list[object]]) -> str:
    with pytest.raises(PayloadError) as error:
        schema.parse(columns)
    return str(error.value)


def test_chunks_cut_a_request_in_parts_of_at_most_the_rows_each_at_the_same_time() -> None:
    request = Request({"id": [1, 2, 3, 4, 5], "x": list("abcde")}, 5, lookup=True)
    assert request.chunks(5, AT) == [request] and request.chunks(9, AT) == [request]
    parts = request.chunks(2, AT)
    assert [(p.columns, p.rows, p.lookup, p.at) for p in parts] == [
        ({"id": [1, 2], "x": ["a", "b"]}, 2, True, AT),
        ({"id": [3, 4], "x": ["c", "d"]}, 2, True, AT),
        ({"id": [5], "x": ["e"]}, 1, True, AT)]
    assert [p.rows for p in request.chunks(4, AT)] == [4, 1]
    assert request.at is None


def test_integer_columns_take_ints_within_their_dtype_never_bools_or_floats() -> None:
    for fine in (-128, 0, 127):
        assert schema().parse({"id": [fine]}).columns == {"id": [fine]}
    for value, shown, what in ((128, "128", "int, out of the column's range"),
                               (-129, "-129", "int, out of the column's range"),
                               (True, "True", "bool"), (1.0, "1.0", "float"),
                               ("1", "'1'", "str")):
        assert _refusal(schema(), {"id": [1, value]}) == (
            f"column 'id' takes integer values, got {shown} ({what}) in row 1")


def test_a_full_row_is_checked_column_by_column_with_the_column_s_json_type() -> None:
    row = {"id": [1, 2], "score": [0.5, 3], "plan": ["a", None], "active": [True, None]}
    parsed = schema().parse(row)
    assert (parsed.columns, parsed.rows, parsed.lookup) == (row, 2, False)
    for column, value, kind, what in (
            ("score", True, "finite number", "bool"),
            ("score", "1", "finite number", "str"),
            ("score", 10**400, "finite number", "int, out of the column's range"),
            ("score", float("nan"), "finite number",
             "float, not finite: send null for a missing value"),
            ("score", float("inf"), "finite number",
             "float, not finite: send null for a missing value"),
            ("plan", 1, "string", "int"),
            ("active", 1, "boolean", "int"),
            ("active", "true", "boolean", "str")):
        message = _refusal(schema(), row | {column: [value, None]})
        assert message.startswith(f"column {column!r} takes {kind} values, got "), message
        assert message.endswith(f" ({what}) in row 0"), message


def test_a_float_key_takes_numbers_a_float_feature_finite_numbers() -> None:
    floats = RequestSchema(pl.Schema({"k": pl.Float64}), pl.Schema({"f": pl.Float64}))
    assert _refusal(floats, {"k": ["1"]}) == (
        "column 'k' takes number values, got '1' (str) in row 0")
    assert _refusal(floats, {"f": ["1"]}) == (
        "column 'f' takes finite number values, got '1' (str) in row 0")


def test_non_finite_features_pass_only_where_allowed_and_huge_ints_never() -> None:
    plain = schema()
    allowed = RequestSchema(plain.keys, plain.features, non_finite=frozenset({"score"}))
    row = {"id": [1, 1], "score": [float("nan"), float("-inf")], "plan": ["a", "b"],
           "active": [False, True]}
    assert allowed.parse(row).columns["score"] == row["score"]
    message = _refusal(allowed, row | {"score": [2**2000, 1.0]})
    assert message.endswith("(int, out of the column's range) in row 0"), message
    assert schema().non_finite == frozenset()


def test_a_null_key_is_refused_a_null_feature_is_not() -> None:
    assert _refusal(schema(), {"id": [1, None]}) == "key column 'id' is null in row 1"
    row = {"id": [None], "score": [None], "plan": [None], "active": [None]}
    assert _refusal(schema(), row) == "key column 'id' is null in row 0"
    assert schema().parse(row | {"id": [3]}).columns == row | {"id": [3]}


def test_a_column_of_a_type_json_cannot_carry_fails_when_the_schema_is_built() -> None:
    with pytest.raises(ValueError, match=r"^no JSON type for Date$"):
        RequestSchema(pl.Schema({"id": pl.Int64}), pl.Schema({"day": pl.Date}))
    with pytest.raises(ValueError, match=r"^no JSON type for Date$"):
        RequestSchema(pl.Schema({"day": pl.Date}), pl.Schema({"x": pl.Float64}))


def test_width_counts_keys_and_features_once() -> None:
    assert schema().width == 4
    assert RequestSchema(pl.Schema({"k": pl.Int64}), pl.Schema({"f": pl.Float64})).width == 2




def two() -> RequestSchema:
    return RequestSchema(pl.Schema({"k": pl.Int64, "j": pl.String}),
                         pl.Schema({"f": pl.Float64, "g": pl.Int64}))

HINT = ": send the key column(s) ['k', 'j'] (features are looked up as of now) or every " \
       "model feature"


def test_what_a_request_lacks_or_carries_in_excess_is_named() -> None:
    assert _refusal(two(), {"k": [1]}) == "missing key column(s) ['j']" + HINT
    assert _refusal(two(), {"j": ["a"], "f": [1.0]}) == (
        "rows carry some features but not all (missing ['g'])" + HINT)
    assert _refusal(two(), {"k": [1], "j": ["a"], "z": [1], "a": [2]}) == (
        "unexpected column(s) ['a', 'z']" + HINT)
    assert _refusal(two(), {"z": [1], "k": [1]}) == (
        "unexpected column(s) ['z']; missing key column(s) ['j']" + HINT)
    assert _refusal(two(), {"z": [1], "f": [1.0]}) == (
        "unexpected column(s) ['z']; rows carry some features but not all (missing ['g'])"
        + HINT)


def test_keys_only_look_up_full_rows_keep_keys_and_features() -> None:
    keys = two().parse({"k": [1, 2], "j": ["a", "b"]})
    assert (keys.columns, keys.rows, keys.lookup) == ({"k": [1, 2], "j": ["a", "b"]}, 2, True)
    full = two().parse({"g": [1], "f": [0.5]})
    assert (full.columns, full.rows, full.lookup) == ({"f": [0.5], "g": [1]}, 1, False)
    both = two().parse({"g": [1, 2, 3], "f": [0.5] * 3, "j": ["x"] * 3, "k": [7] * 3})
    assert both.columns == {"f": [0.5] * 3, "g": [1, 2, 3], "k": [7] * 3, "j": ["x"] * 3}
    assert (both.rows, both.lookup) == (3, False)
    assert _refusal(two(), {"g": [1], "f": [0.5], "k": [None]}) == (
        "key column 'k' is null in row 0")


def test_a_key_only_request_carries_the_keys_in_their_declared_order() -> None:
    """Even when the keys are also features, listed there in another order."""
    schema = RequestSchema(pl.Schema({"k": pl.Int64, "j": pl.String}),
                           pl.Schema({"j": pl.String, "f": pl.Float64, "k": pl.Int64}))
    assert list(schema.parse({"j": ["a"], "k": [1]}).columns) == ["k", "j"]


# --- redact -----------------------------------------------------------------------------------


def _sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_pii_hash_hashes_strings_as_they_are_other_values_as_sorted_json_lists_each() -> None:
    assert pii_hash("a@b.c") == _sha("a@b.c")
    assert pii_hash({"b": 1, "a": 2}) == _sha('{"a": 2, "b": 1}')
    assert pii_hash(7) == _sha("7") and pii_hash(None) == _sha("null")
    assert pii_hash(["x", [1]]) == [_sha("x"), [_sha("1")]]
    assert pii_hash("\ud800") == "sha256:" + hashlib.sha256(b"\xed\xa0\x80").hexdigest()


@pytest.mark.parametrize(("name", "rule"), [
    ("password", "secret"), ("PASS word", "secret"), ("pass-phrase", "secret"),
    ("user_ssn", "secret"), ("SSN", "secret"), ("my auth", "secret"), ("x-pin", "secret"),
    ("Ａｕｔｈｏｒｉｚａｔｉｏｎ", "secret"), ("api\u200bkey", "secret"),
    ("classname", None), ("spinach", None), ("authentic", None), ("note", None),
    ("E-Mail ", "pii"), ("user_email", "pii"), ("ｅｍａｉｌ", "pii"), ("Phone\u200b", "pii"),
    ("email_password", "secret")])
def test_a_name_s_rule_whatever_its_spelling(name: str, rule: str | None) -> None:
    redactor = Redactor({"email", "phone", "", "_"}, 1024)
    stored = redactor.field(name, "v")
    expected = {"secret": REDACTED, "pii": _sha("v"), None: "v"}[rule]
    assert stored == (name, expected)
    assert redactor.field(name, "v") == stored  # remembered alike


def test_no_pii_column_means_no_name_is_hashed() -> None:
    redactor = Redactor(["", "-"], 1024)
    assert redactor.pii == frozenset()
    assert redactor.field("anything", "v") == ("anything", "v")


def test_credentials_in_names_and_values_are_redacted_and_never_remembered() -> None:
    redactor = Redactor((), 1024)
    assert redactor.field("note", "call me, token=abc123 ok") == (
        "note", f"call me, {REDACTED} ok")
    assert redactor.field("note", "Authorization: Bearer abc") == ("note", REDACTED)
    name = "x lhm_0123456789abcdef_s3cret"
    assert redactor.field(name, "v") == (f"x {REDACTED}", "v")
    assert name not in redactor._names and "note" in redactor._names


def test_only_short_names_are_remembered_and_at_most_so_many() -> None:
    redactor = Redactor((), 1024)
    redactor.field("n" * 128, "v")
    redactor.field("n" * 129, "v")
    assert list(redactor._names) == ["n" * 128]
    for i in range(5000):
        redactor.field(f"k{i}", "v")
    assert len(redactor._names) == 4096


def test_a_name_s_rule_is_remembered_and_used_as_remembered() -> None:
    redactor = Redactor((), 1024)
    assert redactor.field("note", "v") == ("note", "v")
    assert redactor._names == {"note": ("note", None)}
    redactor._names["note"] = ("note", "secret")  # as if worked out as a secret's name
    assert redactor.field("note", "v") == ("note", REDACTED)


def test_a_document_keeps_only_the_format_s_rows_redacted() -> None:
    redactor = Redactor({"email"}, 10_000)
    body = {"dataframe_records": [{"id": 1, "email": "a@b.c", "pwd": "x",
                                   "note": ["token: t", 2.5, None, True]}],
            "params": {"k": 1}, "other": "v"}
    text = redactor.document(body, b"...")
    assert json.loads(text) == {
        "dataframe_records": [{"id": 1, "email": _sha("a@b.c"), "pwd": REDACTED,
                               "note": [REDACTED, 2.5, None, True]}],
        "params": REDACTED, "other": REDACTED}
    assert redactor.document([{"password": "x"}, "y"], b"") == json.dumps(
        [{"password": REDACTED}, "y"])
    assert redactor.document("token=1", b"") == json.dumps(REDACTED)


def test_name_value_pairs_are_fields_other_pairs_lists() -> None:
    redactor = Redactor({"email"}, 10_000)
    document = {"inputs": [["password", "x"], ["Email", ["a", "b"]], ["note", "y"], [1, "z"],
                           ["password", "x", "y"]]}
    assert json.loads(redactor.document(document, b"")) == {"inputs": [
        ["password", REDACTED], ["Email", [_sha("a"), _sha("b")]], ["note", "y"], [1, "z"],
        ["password", "x", "y"]]}


def test_a_split_frame_is_redacted_by_column_position_and_its_index_dropped() -> None:
    redactor = Redactor({"email"}, 10_000)
    split = {"columns": ["id", "E-mail", "secret", "lhm_0123456789abcdef_s"], "index": [0, 1],
             "data": [[1, "a@b.c", "s", "v"], [2, None, "t", "w"]]}
    stored = json.loads(redactor.document({"dataframe_split": split}, b""))
    assert stored == {"dataframe_split": {
        "columns": ["id", "E-mail", "secret", REDACTED], "index": REDACTED,
        "data": [[1, _sha("a@b.c"), REDACTED, "v"], [2, _sha("null"), REDACTED, "w"]]}}
    plain = {"columns": ["id", "note"], "data": [[1, "token=x"]]}
    assert json.loads(redactor.document({"dataframe_split": plain}, b"")) == {
        "dataframe_split": {"columns": ["id", "note"], "data": [[1, REDACTED]]}}


@pytest.mark.parametrize("split", [
    {"columns": "id", "data": [[1]]}, {"columns": ["id", 2], "data": [[1, 2]]},
    {"columns": ["id"], "data": [1]}, {"columns": ["id"], "data": [[1, 2]]},
    {"columns": ["id"], "data": "x"}])
def test_a_split_that_cannot_be_redacted_keeps_length_and_hash(split: dict) -> None:
    body = json.dumps({"dataframe_split": split}).encode()
    stored = Redactor((), 10_000).document({"dataframe_split": split}, body)
    assert stored == (f"[not redactable: {len(body)} bytes, sha256 "
                      f"{hashlib.sha256(body).hexdigest()}]")


def test_columns_without_data_are_walked_as_any_object() -> None:
    redactor = Redactor((), 10_000)
    assert json.loads(redactor.document({"inputs": {"columns": ["token=x"], "d": 1}}, b"")) \
        == {"inputs": {"columns": [REDACTED], "d": 1}}


def test_unparsed_and_capped_bodies_keep_length_and_sha256() -> None:
    body = b"\xff" * 10
    digest = hashlib.sha256(body).hexdigest()
    assert Redactor.unparsed(body) == f"[not JSON: 10 bytes, sha256 {digest}]"
    assert Redactor.unparsed(body, "why") == f"[why: 10 bytes, sha256 {digest}]"
    redactor = Redactor((), 8)
    assert redactor.cap("12345678", body) == "12345678"
    assert redactor.cap("123456789", body) == (
        f"12345678... [truncated: 10 bytes, sha256 {digest}]")


def test_the_walk_stops_once_the_prefix_is_full() -> None:
    """Every value visited costs at least one character: `max_bytes` values at most."""
    redactor = Redactor((), 10)
    values = list(range(100))
    stored = redactor.document({"inputs": values}, b"x")
    assert stored.startswith('{"inputs": [0, 1, 2, 3, 4, 5, 6, 7]}'[:10] + "... [truncated")
    walked = redactor._walk({"inputs": values}, [10])
    assert walked == {"inputs": list(range(8))}  # the object, the list, then 8 values
    assert redactor._walk([[1, 2], [3, 4], [5, 6]], [5]) == [[1, 2], []]
    assert redactor._walk([[1, 2], [3, 4], [5, 6]], [6]) == [[1, 2], [3]]
    assert redactor._walk({"a": 1, "b": 2, "c": 3}, [3]) == {"a": 1, "b": 2}
    assert redactor._walk([["password", "x"], 1, 2, 3], [4]) == [["password", REDACTED]]
    assert redactor._walk([["password", "x"], 1, 2, 3], [5]) == [["password", REDACTED], 1]
    split = {"columns": ["a", "b", "c"], "data": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
    # the frame, its 3 names, the data list, a row, then its values
    assert redactor._walk(split, [7]) == {"columns": ["a", "b", "c"], "data": [[1]]}
    assert redactor._walk(split, [12]) == {"columns": ["a", "b", "c"],
                                           "data": [[1, 2, 3], [4, 5]]}


def test_a_long_string_is_scanned_up_to_the_stored_prefix_and_a_margin() -> None:
    redactor = Redactor((), 10)
    text = "a" * 300 + " token=secretvalue"
    assert redactor.field("note", text) == ("note", "a" * 266)
    assert redactor.field("note", "a" * 250 + " token=x") == ("note", "a" * 250 + " " + REDACTED)


def test_nesting_is_cut_at_max_depth() -> None:
    redactor = Redactor((), 10_000)
    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    stored = redactor._walk(deep, [10_000])
    for _ in range(MAX_DEPTH):
        stored = stored[0]
    assert stored == TOO_DEEP
    shallow: object = {"a": 1}
    for _ in range(MAX_DEPTH - 1):
        shallow = [shallow]
    walked = redactor._walk(shallow, [10_000])
    for _ in range(MAX_DEPTH - 1):
        walked = walked[0]
    assert walked == {"a": 1}
    assert redactor._walk({"a": {"b": 1}}, [10_000], MAX_DEPTH - 1) == {"a": TOO_DEEP}
    assert redactor._walk({"a": {"b": 1}}, [10_000], MAX_DEPTH - 2) == {"a": {"b": 1}}
    split = {"columns": ["a"], "data": [[[1]]]}  # a split frame's rows count as deep too
    assert redactor._walk(split, [100], MAX_DEPTH - 2) == {"columns": ["a"], "data": [TOO_DEEP]}
    assert redactor._walk(split, [100], MAX_DEPTH - 3) == {"columns": ["a"],
                                                         "data": [[TOO_DEEP]]}


# --- authorization ----------------------------------------------------------------------------

APP = "app-svc"
MODEL = "dev.churn.churn_clf"


@pytest.fixture
def governed(settings: Settings) -> tuple[Metastore, ModelAccess]:
    metastore = Metastore(settings.root, settings.env)
    metastore.create("SCHEMA", "churn")
    metastore.add_principal(APP, SERVICE_PRINCIPAL)
    return metastore, ModelAccess(settings.root, settings.env)


def _audited(settings: Settings) -> list[dict]:
    audit_log(settings.root, settings.env).flush()
    records = Catalog(settings.root, settings.env).read("governance.audit_log").filter(
        pl.col("service_name") == SERVICE).sort("sequence")
    assert set(records["source"]) <= {"serving"}
    return [{"user": r["user_identity"]["email"], "action": r["action_name"],
             "status": r["response"]["status_code"], "error": r["response"]["error_message"],
             "params": {p["key"]: p["value"] for p in r["request_params"]}}
            for r in records.iter_rows(named=True)]


def test_denials_name_the_missing_container_privilege_or_unknown_principal(
        governed: tuple[Metastore, ModelAccess]) -> None:
    metastore, access = governed
    denied = access.check(APP, MODEL)
    assert (denied.principal, denied.privilege, denied.securable) == (
        APP, "EXECUTE", f"MODEL {MODEL}")
    assert str(denied) == (f"permission denied: {APP!r} does not have EXECUTE on MODEL {MODEL} "
                           "(it needs USE CATALOG on CATALOG dev)")
    assert denial_message(denied, MODEL) == (
        f"permission denied: {APP!r} does not have EXECUTE on registered model {MODEL}")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", APP)
    assert str(access.check(APP, MODEL)).endswith("(it needs USE SCHEMA on SCHEMA dev.churn)")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "churn", APP)
    assert str(access.check(APP, MODEL)) == (
        f"permission denied: {APP!r} does not have EXECUTE on MODEL {MODEL}")
    metastore.grant(["EXECUTE"], "SCHEMA", "churn", APP)
    assert access.check(APP, MODEL) is None
    nobody = access.check("nobody", MODEL)
    assert (nobody.principal, nobody.privilege, nobody.securable) == (
        "nobody", "EXECUTE", f"MODEL {MODEL}")
    assert "nobody" in str(nobody).partition("(")[2], str(nobody)  # why: the unknown principal


def test_a_declared_model_is_governed_as_declared_an_undeclared_one_as_the_admins(
        governed: tuple[Metastore, ModelAccess]) -> None:
    """A declared model's owner may execute it; an undeclared one is owned by the first
    metastore admin; a name without its catalog is in the environment's catalog."""
    metastore, access = governed
    for principal in (APP, "owner-svc"):
        metastore.add_principal(principal, SERVICE_PRINCIPAL)
        metastore.grant(["USE CATALOG"], "CATALOG", "dev", principal)
        metastore.grant(["USE SCHEMA"], "SCHEMA", "churn", principal)
    metastore.create("MODEL", "churn.owned_clf", owner="owner-svc")
    assert access.check("owner-svc", "dev.churn.owned_clf") is None
    assert access.check(APP, "dev.churn.owned_clf") is not None
    assert access.check("owner-svc", MODEL) is not None
    assert access.check(local_user(), MODEL) is None
    assert str(access.check(APP, "churn.churn_clf")) == (
        f"permission denied: {APP!r} does not have EXECUTE on MODEL {MODEL}")


def test_a_decision_is_kept_per_principal_and_model_until_the_state_moves(
        governed: tuple[Metastore, ModelAccess], monkeypatch: pytest.MonkeyPatch) -> None:
    metastore, access = governed
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", APP)
    metastore.grant(["USE SCHEMA", "EXECUTE"], "SCHEMA", "churn", APP)
    decided = []
    decide = access._decide
    monkeypatch.setattr(access, "_decide", lambda p, m: decided.append((p, m)) or decide(p, m))
    other = "dev.churn.other_clf"
    for _ in range(3):
        assert access.check(APP, MODEL) is None and access.check(APP, other) is None
        assert access.check("nobody", MODEL) is not None
    assert decided == [(APP, MODEL), (APP, other), ("nobody", MODEL)]
    access.refresh()
    assert access.check(APP, MODEL) is None and decided[-1] == (APP, MODEL)
    assert len(decided) == 4
    metastore.revoke(["EXECUTE"], "SCHEMA", "churn", APP)
    assert access.check(APP, MODEL) is not None and len(decided) == 5
    assert access.check(APP, MODEL) is not None and len(decided) == 5


def test_a_decision_made_while_the_state_moved_is_not_kept(
        governed: tuple[Metastore, ModelAccess], monkeypatch: pytest.MonkeyPatch) -> None:
    metastore, access = governed
    decide = access._decide

    def grant_meanwhile(principal: str, model: str) -> object:
        decision = decide(principal, model)
        metastore.grant(["USE CATALOG"], "CATALOG", "dev", APP)  # the state moves on
        access.refresh()  # and the poller's refresh sees it, while deciding
        return decision

    monkeypatch.setattr(access, "_decide", grant_meanwhile)
    assert access.check(APP, MODEL) is not None
    assert access._decisions == {}
    monkeypatch.setattr(access, "_decide", decide)
    assert access.check(APP, MODEL) is not None
    assert list(access._decisions) == [(APP, MODEL)]  # a decision of the current state


def test_loads_and_records_are_audited_with_their_principal_status_and_error(
        governed: tuple[Metastore, ModelAccess], settings: Settings) -> None:
    metastore, access = governed
    with pytest.raises(PermissionError) as denied:
        access.require(APP, MODEL, 3)
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", APP)
    metastore.grant(["USE SCHEMA", "EXECUTE"], "SCHEMA", "churn", APP)
    access.require(APP, MODEL, 4)
    access.record(None, authorization.LOGIN, 401, {"request_id": "r1"}, "bad token")
    access.record(APP, authorization.QUERY, 200, {"request_id": "r2"})
    assert _audited(settings) == [
        {"user": APP, "action": LOAD, "status": 403, "error": str(denied.value),
         "params": {"model": MODEL, "version": "3"}},
        {"user": APP, "action": LOAD, "status": 200, "error": None,
         "params": {"model": MODEL, "version": "4"}},
        {"user": "unauthenticated", "action": "tokenLogin", "status": 401, "error": "bad token",
         "params": {"request_id": "r1"}},
        {"user": APP, "action": "queryEndpoint", "status": 200, "error": None,
         "params": {"request_id": "r2"}}]


def test_a_flush_that_fails_is_logged_not_raised(
        governed: tuple[Metastore, ModelAccess], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, settings: Settings) -> None:
    _, access = governed
    logs = []

    class Broken:
        def flush(self) -> None:
            raise OSError("disk full")

    monkeypatch.setattr(authorization, "audit_log",
                        lambda root, env: logs.append((root, env)) or Broken())
    with caplog.at_level(logging.ERROR, logger=authorization.__name__):
        access.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "audit log: buffered records could not be written at shutdown"]
    assert caplog.records[0].exc_info[1].args == ("disk full",)
    assert logs == [(settings.root, settings.env)]  # the lakehouse's own audit log
