"""Bodies built to make parsing or redaction expensive or fail (issue 10): each is refused or
stored safely, quickly, without a 500."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from lakehouse_ml.serving.payload import MAX_COLUMNS, PayloadError, load, parse
from lakehouse_ml.serving.redact import MAX_DEPTH, TOO_DEEP, Redactor


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_rows_with_distinct_names_are_refused_at_the_column_limit_in_linear_time() -> None:
    records = [{"customer_id": 1, f"k{i}": 0} for i in range(12_000)]
    wide = body({"dataframe_records": records[:9_999]})
    started = time.perf_counter()
    with pytest.raises(PayloadError, match=f"limit of {MAX_COLUMNS} columns"):
        parse(wide)
    with pytest.raises(PayloadError, match="12000 rows exceed the limit of 10000"):
        parse(body({"dataframe_records": records}))
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("kind", ["dataframe_split", "inputs"])
def test_more_column_names_than_the_limit_are_refused_in_every_format(kind: str) -> None:
    names = [f"k{i}" for i in range(MAX_COLUMNS + 1)]
    document = ({"columns": names, "data": [[0] * len(names)]} if kind == "dataframe_split"
                else {n: [0] for n in names})
    with pytest.raises(PayloadError, match=f"limit of {MAX_COLUMNS} columns"):
        parse(body({kind: document}))
    fits = names[:MAX_COLUMNS]
    document = ({"columns": fits, "data": [[0] * len(fits)]} if kind == "dataframe_split"
                else {n: [0] for n in fits})
    assert list(parse(body({kind: document}))) == fits


def test_a_legitimate_body_with_rows_leaving_columns_out_is_unchanged() -> None:
    rows = [{"customer_id": i, "a": i} if i % 2 else {"customer_id": i} for i in range(10_000)]
    columns = parse(body({"dataframe_records": rows}))
    assert columns["customer_id"] == list(range(10_000))
    assert columns["a"] == [i if i % 2 else None for i in range(10_000)]


def deepest_parsed() -> int:
    """The deepest nesting of objects `payload.load` accepts (bounded by the parser's
    recursion)."""
    low, high = 1, 100_000
    while low < high:
        middle = (low + high + 1) // 2
        try:
            load(b'{"a":' * middle + b"1" + b"}" * middle)
        except PayloadError:
            high = middle - 1
        else:
            low = middle
    return low


@pytest.mark.parametrize("depth", [500, 800, None])
def test_deeply_nested_values_are_cut_with_a_marker_never_raising(depth: int | None) -> None:
    depth = depth or deepest_parsed() - 3  # the body, its list and its row hold it
    raw = (b'{"instances": [{"customer_id": 1, "x": ' + b'{"a":' * depth
           + b'"deep"' + b"}" * depth + b"}]}")
    stored = json.loads(Redactor({"email"}, 1_000_000).document(load(raw), raw))
    (row,) = stored["instances"]
    assert row["customer_id"] == 1
    level, cut = row["x"], 3
    while isinstance(level, dict):
        level, cut = level["a"], cut + 1
    assert level == TOO_DEEP
    assert cut <= MAX_DEPTH < depth


def stored(document: object, pii: frozenset[str] = frozenset({"email"})) -> str:
    raw = body(document)
    return Redactor(pii, 1_000_000).document(load(raw), raw)


@pytest.mark.parametrize("split", [
    {"columns": ["customer_id", "email", "password", 1],
     "data": [[12, "leak1@example.com", "leakpw1", 0]]},  # a column that is not a name
    {"columns": "customer_id,email,password", "data": [[12, "leak1@example.com", "leakpw1"]]},
    {"columns": ["customer_id", "email", "password"],
     "data": [[12, "leak1@example.com", "leakpw1", "leak2@example.com"]]},  # longer row
    {"columns": ["email", "password"], "data": ["leak1@example.com", "leakpw1"]},  # not rows
])
def test_a_split_that_cannot_be_redacted_by_position_keeps_only_length_and_hash(
        split: dict[str, object]) -> None:
    raw = body({"dataframe_split": split})
    kept = stored({"dataframe_split": split})
    assert kept == f"[not redactable: {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}]"
    assert "leak" not in kept


@pytest.mark.parametrize("name", [
    "e-mail", "EMAIL ", "user_email", "E Mail", "Password", " pass-word", "Bearer", "jwt_token",
    "session", "sessionId", "SSN", "user ssn", "credit card", "credit-card-number", "API-Key"])
def test_secret_and_pii_names_match_whatever_their_case_spaces_and_separators(
        name: str) -> None:
    expected = (f"sha256:{hashlib.sha256(b'leak-value').hexdigest()}" if "mail" in name.lower()
                else "[redacted]")
    kept = json.loads(stored({"instances": [{"customer_id": 1, name: "leak-value"}]}))
    assert kept["instances"] == [{"customer_id": 1, name: expected}]
    split = json.loads(stored({"dataframe_split": {"columns": ["customer_id", name],
                                                    "data": [[1, "leak-value"]]}}))
    assert split["dataframe_split"]["data"] == [[1, expected]]


@pytest.mark.parametrize("name", ["customer_id", "classname", "amount", "days_since_signup"])
def test_names_that_only_contain_a_short_secret_word_are_kept(name: str) -> None:
    kept = json.loads(stored({"instances": [{name: 7}]}))
    assert kept["instances"] == [{name: 7}]
