"""Request bodies → columns (serving/payload.py), asserted value for value; these kill the
mutants `make mutation` found surviving in the parser (bench/MUTATION.md)."""

from __future__ import annotations

import json

import pytest

from lakehouse_ml.serving.payload import PayloadError, listed, parse, rows_of, shown


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_rows_of_counts_the_values_of_a_column_and_none_without_columns() -> None:
    assert rows_of({"a": [1, 2, 3], "b": [4, 5, 6]}) == 3
    assert rows_of({}) == 0


@pytest.mark.parametrize("kind", ["dataframe_records", "instances", "inputs"])
def test_records_become_columns_in_first_seen_order_with_nulls_for_left_out(kind: str) -> None:
    columns = parse(body({kind: [{"b": 1, "a": "x"}, {"a": "y", "c": 2.5}]}))
    assert list(columns) == ["b", "a", "c"]
    assert columns == {"b": [1, None], "a": ["x", "y"], "c": [None, 2.5]}


def test_split_maps_each_column_to_its_position_in_every_row() -> None:
    columns = parse(body({"dataframe_split": {"columns": ["a", "b"],
                                              "data": [[1, "x"], [2, "y"], [3, None]]}}))
    assert columns == {"a": [1, 2, 3], "b": ["x", "y", None]}


def test_inputs_as_columns_are_taken_as_they_are() -> None:
    assert parse(body({"inputs": {"a": [1, 2], "b": ["x", "y"]}})) == {
        "a": [1, 2], "b": ["x", "y"]}


def test_params_are_ignored_beside_one_format() -> None:
    assert parse(body({"params": {"k": 1}, "instances": [{"a": 1}]})) == {"a": [1]}


@pytest.mark.parametrize("limit", [1, 3])
def test_exactly_max_rows_rows_are_accepted_and_one_more_refused(limit: int) -> None:
    rows = [{"a": i} for i in range(limit)]
    assert parse(body({"instances": rows}), max_rows=limit) == {"a": list(range(limit))}
    with pytest.raises(PayloadError, match=f"{limit + 1} rows exceed the limit of {limit} rows"):
        parse(body({"instances": [*rows, {"a": limit}]}), max_rows=limit)


def test_the_default_limit_is_ten_thousand_rows() -> None:
    assert rows_of(parse(body({"inputs": {"a": [0] * 10_000}}))) == 10_000
    with pytest.raises(PayloadError, match="10001 rows exceed"):
        parse(body({"inputs": {"a": [0] * 10_001}}))


@pytest.mark.parametrize("document", [
    [], "text", {}, {"columns": [1]},  # not an object, or no format key
    {"instances": [{"a": 1}], "inputs": [{"a": 1}]},  # two formats
    {"instances": [{"a": 1}], "extra": 1},  # an unknown key beside a format
    {"instances": {"a": [1]}},  # only `inputs` may be columnar
    {"instances": [{"a": 1}, [1]]}, {"instances": []},  # a row that is no object; no rows
    {"dataframe_split": [["a"], [[1]]]}, {"dataframe_split": {"columns": ["a"]}},
    {"dataframe_split": {"data": [[1]]}}, {"dataframe_split": {"columns": "a", "data": [[1]]}},
    {"dataframe_split": {"columns": ["a", 1], "data": [[1, 2]]}},
    {"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}},
    {"dataframe_split": {"columns": ["a"], "data": [1]}},
    {"dataframe_split": {"columns": ["a"], "data": "x"}},
    {"dataframe_split": {"columns": ["a"], "data": []}},
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}},
    {"dataframe_split": {"columns": ["a"], "data": [[1], [2, 3]]}},
    {"inputs": {"a": [1], "b": 2}}, {"inputs": {"a": [1, 2], "b": [3]}},
    {"inputs": {"a": [], "b": []}}, {"inputs": {}},
])
def test_a_malformed_document_is_refused(document: object) -> None:
    with pytest.raises(PayloadError):
        parse(body(document))


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
                                 b'{"inputs": {"a": [' + b"9" * 5000 + b"]}}"])
def test_bytes_that_are_no_json_document_are_refused(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(raw)


@pytest.mark.parametrize("kind", ["dataframe_records", "instances", "inputs"])
def test_a_refused_records_body_names_its_format(kind: str) -> None:
    with pytest.raises(PayloadError, match=f"^{kind} must be a list of objects"):
        parse(body({kind: [[1]]}))
    with pytest.raises(PayloadError, match=f"^{kind}: no rows to score"):
        parse(body({kind: []}))


def test_a_value_is_shown_whole_up_to_64_characters_then_cut_and_counted() -> None:
    """Kills the mutants of `shown` (default 64 → 65, `<=` → `<`, the test forced either way,
    `repr(None)`)."""
    assert shown("x" * 62) == repr("x" * 62)  # 64 characters with its quotes: whole
    assert shown("x" * 63) == repr("x" * 63)[:64] + "... (65 characters)"
    assert shown(7) == "7"


def test_a_list_shows_ten_items_then_how_many_more() -> None:
    """Kills the mutants of `listed` (its brackets and separator, `>` → `>=`, `-` → `+`)."""
    assert listed(range(10)) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
    assert listed(range(12)) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ... and 2 more]"
    assert listed(["a"], show=str.upper) == "[A]"
