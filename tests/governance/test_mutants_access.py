"""Row filters, column masks and privileges called directly (issue 13, `make mutation`'s `access`
group): each test kills survivors of that group's run (bench/MUTATION.md, "governance access")
by a behaviour the other tests did not pin down."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse_ml.governance.row_column import (
    Constant,
    Function,
    PolicyFunctionError,
    _one_line,
    compile_filter,
)

TENANTS = pl.DataFrame({"tenant_id": ["t-01", "t-02", None]})
SCHEMA = (("tenant_id", pl.String),)


def kept(fn: Function, *args: str | Constant) -> list[object]:
    """The tenants a filter keeps for a principal in no group."""
    keep = compile_filter(fn, args, "ann", frozenset(), SCHEMA)
    return (TENANTS if keep is None else TENANTS.filter(keep))["tenant_id"].to_list()


def test_a_constant_argument_is_read_as_databricks_sql() -> None:
    """`ON (tenant_id, "t-01")`: in Databricks SQL a double-quoted text is a string (in
    sqlglot's default dialect it would be a column, refused as no constant)."""
    same = Function("dev.silver.same", (("t", "STRING"), ("x", "STRING")), "BOOLEAN", "t = x")
    assert kept(same, "tenant_id", Constant('"t-01"')) == ["t-01"]
    assert kept(same, "tenant_id", Constant("'t-02'")) == ["t-02"]


@pytest.mark.parametrize("argument", ["upper('a')", "-'a'", "tenant_id", "x + 1"])
def test_an_argument_that_is_no_constant_is_refused(argument: str) -> None:
    """Only a string, number, TRUE, FALSE or NULL (a number may be negative) is a constant."""
    positive = Function("dev.silver.positive", (("t", "STRING"), ("x", "INT")), "BOOLEAN",
                        "x > 0")
    with pytest.raises(PolicyFunctionError, match=r"is neither a column nor a constant"):
        kept(positive, "tenant_id", Constant(argument))
    assert kept(positive, "tenant_id", Constant("-5")) == []
    assert kept(positive, "tenant_id", Constant("5")) == ["t-01", "t-02", None]


def test_a_call_with_the_wrong_number_of_arguments_names_them_constants_included() -> None:
    one = Function("dev.silver.one", (("t", "STRING"),), "BOOLEAN", "TRUE")
    with pytest.raises(PolicyFunctionError, match=r"^function dev.silver.one takes 1 "
                       r"argument\(s\), called with 2 \(tenant_id, 't-01'\)$"):
        kept(one, "tenant_id", Constant("'t-01'"))


def test_an_error_is_told_on_one_line_of_at_most_500_characters() -> None:
    said = _one_line(ValueError("word\n" * 200))
    assert len(said) == 500 and "\n" not in said and said.startswith("word word")
