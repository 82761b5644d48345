"""Landed bytes → records and rejects (ingest/landing.py), asserted value for value; these kill
the mutants `make mutation` found surviving in the parsers (bench/MUTATION.md)."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse_ml.ingest.landing import (
    BOM,
    MAX_LINE_BYTES,
    NESTED,
    RESCUED,
    landed_records,
    parse,
)

COLUMNS = ["a", "b"]
RECORDS = pl.Schema({"a": pl.String, "b": pl.String, RESCUED: pl.String, NESTED: pl.String,
                      "_line": pl.Int64})
REJECTS = pl.Schema({"_line": pl.Int64, "raw": pl.String, "reason": pl.String})


def csv(data: bytes, columns: list[str] = COLUMNS):
    return parse(data, "csv", columns)


@pytest.mark.parametrize("data", [b"", b"a,b\n", b"a,a\n1,2\n", b'"a,b\n1,2\n', b"x,y\n1,2\n"])
def test_records_and_rejects_keep_their_schema_when_no_row_is_read(data: bytes) -> None:
    parsed = csv(data)
    assert parsed.records.schema == RECORDS and parsed.records.height == 0
    assert parsed.rejects.schema == REJECTS


def test_an_empty_csv_has_no_header_no_records_and_no_rejects() -> None:
    parsed = csv(b"")
    assert (parsed.records.height, parsed.rejects.height, parsed.header_lines) == (0, 0, 0)


@pytest.mark.parametrize("parse_as", ["csv", "jsonl"])
def test_line_numbers_stay_integers_when_every_line_is_rejected(parse_as: str) -> None:
    data = b'a,b\n"x\n' if parse_as == "csv" else b"nope\n[1]\n"
    parsed = parse(data, parse_as, COLUMNS)
    assert parsed.records.schema == RECORDS and parsed.records.height == 0
    assert parsed.rejects["_line"].to_list() == ([2] if parse_as == "csv" else [1, 2])


def test_csv_rows_are_rows_not_columns_and_empty_fields_are_null() -> None:
    records = csv(b"a,b\n1,2\n3,\n").records
    assert records.select(COLUMNS).rows() == [("1", "2"), ("3", None)]


def test_an_empty_line_is_a_row_of_no_fields_even_for_one_column() -> None:
    parsed = csv(b"a\n1\n\n2\n", ["a"])
    assert parsed.records["a"].to_list() == ["1", "2"]
    assert parsed.rejects.rows() == [(3, "", "expected 1 fields, got 0")]


def test_a_malformed_csv_line_is_rejected_with_its_own_text() -> None:
    parsed = csv(b'a,b\n1,2\n"3,4\n5,6\n')
    assert parsed.rejects.select("_line", "raw").rows() == [(3, '"3,4')]
    assert parsed.rejects["reason"].item().startswith("malformed CSV: ")


def test_header_problems_are_named_exactly() -> None:
    def reason(data: bytes, columns: list[str] = COLUMNS) -> str:
        return csv(data, columns).rejects["reason"].unique().item()

    assert reason(b"a,b,a,b\n") == "file rejected: the header repeats 'a', 'b'"
    assert reason(b"a,,b\n") == "file rejected: the header has an empty column name"
    assert reason(b"x,y\n", ["a", "b", "x"]) == (
        "file rejected: the header lacks the declared column(s) a, b (got 'x,y': a file "
        "without its header?)")
    long = ",".join(f"c{i:03}" for i in range(60))  # 239 characters: only 200 are shown
    assert reason(long.encode(), ["a"]) == (
        f"file rejected: the header lacks the declared column(s) a (got {long[:200]!r}: a file "
        "without its header?)")
    assert reason(b'"a,b\n').startswith("file rejected: malformed CSV: ")


def test_nested_values_keep_non_ascii_characters_as_they_are() -> None:
    records = parse('{"a": {"city": "Zürich"}, "b": ["é"]}\n'.encode(), "jsonl", COLUMNS).records
    assert records.select(COLUMNS).row(0) == ('{"city": "Zürich"}', '["é"]')


@pytest.mark.parametrize("long_line", [False, True])
def test_files_over_the_line_limit_are_read_whole_unless_a_line_is_over_it(
    long_line: bool,
) -> None:
    short = [f'{{"a": "{i}", "b": "{"x" * 1000}"}}'.encode() for i in range(1100)]
    lines = [*short, f'{{"a": "big", "b": "{"y" * MAX_LINE_BYTES}"}}'.encode()] if long_line \
        else short
    parsed = parse(b"\n".join(lines) + b"\n", "jsonl", COLUMNS)
    assert parsed.records["a"].to_list() == [str(i) for i in range(1100)]
    assert parsed.records["_line"].to_list() == list(range(1, 1101))
    assert parsed.rejects["_line"].to_list() == ([1101] if long_line else [])


@pytest.mark.parametrize("b", ['"flat"', '["nested"]'])  # read whole, or line by line
@pytest.mark.parametrize("extra", [0, 1])
def test_a_line_of_exactly_max_line_bytes_is_read_one_byte_more_is_rejected(
    b: str, extra: int
) -> None:
    frame = '{"a": "", "b": ' + b + '}'
    line = frame.replace('""', '"' + "x" * (MAX_LINE_BYTES + extra - len(frame)) + '"')
    assert len(line) == MAX_LINE_BYTES + extra
    parsed = parse(f'{{"a": "first", "b": null}}\n{line}\n'.encode(), "jsonl", COLUMNS)
    assert parsed.records["a"].str.len_chars().to_list() == (
        [5] if extra else [5, MAX_LINE_BYTES - len(frame)])
    assert parsed.rejects["_line"].to_list() == ([2] if extra else [])


def test_a_field_first_seen_after_the_first_hundred_lines_is_read() -> None:
    rows = [f'{{"a": "{i}"}}' for i in range(150)] + ['{"a": "last", "b": "late", "z": 1}']
    records = parse(("\n".join(rows) + "\n").encode(), "jsonl", COLUMNS).records
    assert records.row(150, named=True) == {"a": "last", "b": "late", RESCUED: '{"z":1}',
                                            NESTED: None, "_line": 151}
    assert records["b"].null_count() == 150


def test_only_a_leading_byte_order_mark_is_not_a_record() -> None:
    """A BOM before the first line is not a record; the same bytes after the last line end
    are a last line without an end, which counts (the reconciliation's `landed`)."""
    assert landed_records(BOM) == 0
    assert landed_records(BOM + b"a\n") == 1
    assert landed_records(b"a\n" + BOM) == 2


def test_the_nested_column_names_each_declared_column_whose_value_was_nested() -> None:
    """`_nested` lists, as JSON, the declared columns whose value was an object or an array
    (their text is that JSON), names as declared; null on a flat line."""
    columns = ["tags", "adresse_é", "plan"]
    data = ('{"tags": [1, 2], "adresse_é": {"ville": "Zürich"}, "plan": "basic"}\n'
            '{"tags": null, "adresse_é": "x", "plan": "pro"}\n').encode()
    records = parse(data, "jsonl", columns).records
    assert records[NESTED].to_list() == ['["tags", "adresse_é"]', None]
    assert records["tags"].to_list() == ["[1, 2]", None]



@pytest.mark.parametrize("where", [0, 1])
def test_a_line_one_byte_over_the_limit_is_rejected_first_or_last_in_the_file(
    where: int,
) -> None:
    """The whole-file read is taken only when no line is over the limit, wherever the longest
    line is: the first one, or a last one without a line end (`_longest_line`)."""
    frame = '{"a": "", "b": null}'
    long = frame.replace('""', '"' + "x" * (MAX_LINE_BYTES + 1 - len(frame)) + '"')
    assert len(long) == MAX_LINE_BYTES + 1
    lines = ['{"a": "short", "b": null}'] * 2
    lines[where] = long
    parsed = parse("\n".join(lines).encode(), "jsonl", COLUMNS)
    assert parsed.records["a"].to_list() == ["short"]
    assert parsed.rejects["_line"].to_list() == [where + 1]


@pytest.mark.parametrize("b", ['"flat"', '["nested"]'])  # read whole, or line by line
def test_jsonl_has_no_header_line_and_a_missing_column_is_a_null_string(b: str) -> None:
    parsed = parse(f'{{"b": {b}}}\n'.encode(), "jsonl", COLUMNS)
    assert parsed.header_lines == 0
    assert parsed.records.schema["a"] == pl.String
    assert parsed.records["a"].to_list() == [None]
