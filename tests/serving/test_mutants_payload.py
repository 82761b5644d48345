"""Request bodies → columns (serving/payload.py), asserted value for value; these kill the
mutants `make mutation` found surviving in the parser (bench/MUTATION.md)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from lakehouse_ml.serving.payload import (
    MAX_COLUMNS,
    MAX_PARAMS_BYTES,
    PayloadError,
    listed,
    load,
    parse,
    rows_of,
    shown,
)


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


def _refusal(call: Callable[[], object]) -> str:
    with pytest.raises(PayloadError) as error:
        call()
    return str(error.value)


def test_json_values_are_counted_from_commas_brackets_and_braces_before_parsing() -> None:
    """Kills the mutants of `_values` (each term's sign, byte or the root's 1 changed) and of
    `load`'s `>` → `>=`: this body holds exactly 6 values (the object, the list, 1, 2, the
    inner object, 3), each kind of byte counted once or more, so a bound of 6 admits it and a
    bound of 5 refuses it, naming the bound."""
    raw = b'{"a": [1, 2], "b": {"c": 3}}'
    assert load(raw, 6) == {"a": [1, 2], "b": {"c": 3}}
    assert _refusal(lambda: load(raw, 5)) == (
        "body holds more JSON values than the 5 that the limit of rows per request needs: "
        f"split it into several requests, keep params under {MAX_PARAMS_BYTES} bytes")


def test_the_value_bound_of_parse_follows_its_rows_and_width_exactly() -> None:
    """Kills the mutants of `max_values` (each factor and term) and `parse` calling `load`
    without the bound (the default of 10,000 rows × 1,024 columns): at 3 rows of 5 columns
    the bound is 2 × (3 + 1) × (5 + 2) values plus the params allowance; a body counted at
    exactly that is parsed, one value more is refused naming the bound. The body's string is
    commas only (one counted value each, as a string of commas costs the parser nothing)."""
    bound = 2 * (3 + 1) * (5 + 2) + MAX_PARAMS_BYTES

    def commas(count: int) -> bytes:  # counted: the root, 2 braces, 1 bracket, `count` commas
        return body({"inputs": {"a": ["," * count]}})

    assert parse(commas(bound - 4), max_rows=3, width=5) == {"a": ["," * (bound - 4)]}
    assert _refusal(lambda: parse(commas(bound - 3), max_rows=3, width=5)).startswith(
        f"body holds more JSON values than the {bound} that the limit of rows per request")


def test_a_key_repeated_in_one_object_is_refused_by_name() -> None:
    """Kills `load` without its `object_pairs_hook` and the mutants of `_unique_keys` (the
    repeated key found otherwise: the first key named, none, or a crash). The repeated key
    is not the first, so naming the first key is wrong."""
    assert _refusal(lambda: load(b'{"instances": [{"a": 1, "b": 2, "b": 3}]}')) == (
        "body repeats the key 'b' in one JSON object: give each key once")
    assert load(b'{"a": {"b": 1}, "b": {"a": 2}}') == {"a": {"b": 1}, "b": {"a": 2}}


def test_params_are_checked_an_object_of_at_most_max_params_bytes_encoded() -> None:
    """Kills `_columns` reading params under another key (`None`, "XXparamsXX", "PARAMS")
    and `_params`' `>` → `>=`: {"p": "x" * k} encodes to 9 + k characters."""
    rows = {"inputs": {"c": [1]}}
    exact = {"p": "x" * (MAX_PARAMS_BYTES - 9)}
    assert len(json.dumps(exact)) == MAX_PARAMS_BYTES
    assert parse(body({**rows, "params": exact})) == {"c": [1]}
    assert _refusal(lambda: parse(body({**rows, "params": {"p": "x" * (MAX_PARAMS_BYTES - 8)}}))
                    ) == f"params exceed the limit of {MAX_PARAMS_BYTES} bytes (encoded)"
    assert _refusal(lambda: parse(body({**rows, "params": [1]}))) == (
        "params must be an object (parameter name → value), as in MLflow's scoring "
        "protocol, got list")


@pytest.mark.parametrize("kind", ["records", "split", "columnar"])
def test_exactly_max_columns_names_are_accepted_and_one_more_refused(kind: str) -> None:
    """Kills `_limit`'s `names > MAX_COLUMNS` → `>=`, in every format."""
    def document(count: int) -> dict[str, object]:
        names = [f"c{i}" for i in range(count)]
        return {"records": {"instances": [dict.fromkeys(names, 0)]},
                "split": {"dataframe_split": {"columns": names, "data": [[0] * count]}},
                "columnar": {"inputs": {name: [0] for name in names}}}[kind]

    assert len(parse(body(document(MAX_COLUMNS)))) == MAX_COLUMNS
    assert _refusal(lambda: parse(body(document(MAX_COLUMNS + 1)))) == (
        f"more than {MAX_COLUMNS} distinct column names exceed the limit of {MAX_COLUMNS} "
        "columns per request")


def test_split_names_exactly_the_columns_it_repeats() -> None:
    """Kills the mutants of `_split`'s duplicate list (`Counter(None)`, `count >= 1`,
    `count > 2`): a column given twice is named, one given once is not."""
    split = {"columns": ["a", "b", "a", "c"], "data": [[1, 2, 3, 4]]}
    assert _refusal(lambda: parse(body({"dataframe_split": split}))) == (
        "dataframe_split.columns has duplicates: ['a']")


@pytest.mark.parametrize("document", [
    {"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}},
    {"inputs": {"a": [1, 2]}},
    {"instances": [{"a": 1}, {"a": 2}]},
])
def test_a_limit_of_zero_rows_refuses_a_body_naming_its_row_count(document: object) -> None:
    """Kills `_limit(0, names, …)` → `_limit(1, names, …)` in `_split` and `_columnar`: the
    column-name check counts no rows, so at a limit of 0 rows (which `Limits` never sets,
    but `parse` takes) the refusal names the body's 2 rows, not 1."""
    assert _refusal(lambda: parse(body(document), max_rows=0)) == (
        "2 rows exceed the limit of 0 rows per request: split them into several requests")
