"""Silver contracts: type the raw text, check it with pandera, and say why a row was refused.

A row is either valid (typed, ready for silver) or quarantined with every rule it broke; no row
is ever dropped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandera.polars as pa
import polars as pl

REASONS = "_reasons"
ALLOW_NON_FINITE = "allow_non_finite"
"""Column metadata key: `pa.Field(metadata={"allow_non_finite": True})` lets a float column
hold NaN and ±inf; every other float column refuses them (NaN is not a number, so no range
rule can hold for it, and pandera would count it as null)."""
_ROW = "__row"
NESTED_PREVIEW = 64
"""Characters of a nested value's JSON text quoted in its reason."""
_TRUE = ("true", "1", "yes", "t")
_FALSE = ("false", "0", "no", "f")


def typed_column(column: str, dtype: pl.DataType) -> pl.Expr:
    """Text → `dtype`, null where the text cannot be read (the contract reports those)."""
    text = pl.col(column).str.strip_chars()
    if isinstance(dtype, pl.Datetime):
        return text.str.to_datetime(
            format="%+", strict=False, time_unit=dtype.time_unit, time_zone=dtype.time_zone or "UTC"
        )
    if isinstance(dtype, pl.Date):
        return text.str.to_date("%Y-%m-%d", strict=False)
    if isinstance(dtype, pl.Boolean):
        lowered = text.str.to_lowercase()
        return pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False)
    if dtype == pl.String:
        return pl.col(column)
    return text.cast(dtype, strict=False)


@dataclass(frozen=True)
class RowRule:
    """A rule on typed rows beyond the pandera contract, e.g. one comparing two columns.

    Both expressions are over the typed rows (contract columns plus pass-through columns):
    `broken` is true where the row breaks the rule (null counts as kept), `reason` says why.
    """

    column: str
    broken: pl.Expr
    reason: pl.Expr


def finite(column: str) -> RowRule:
    """`column` (a float) holds a finite number or null: NaN, inf and -inf break it."""
    value = pl.col(column)
    return RowRule(column, value.is_finite().not_(), pl.concat_str(
        pl.lit(f"{column}: not a finite number (got "), value.cast(pl.String), pl.lit(")")))


def not_after(column: str, reference: str, slack: timedelta) -> RowRule:
    """`column` is at most `slack` after `reference` (both datetimes), e.g. an event time
    at most a day after its ingestion time; 9999-12-31 breaks it."""
    value, limit = pl.col(column), pl.col(reference) + slack
    return RowRule(column, value > limit, pl.concat_str(
        pl.lit(f"{column}: more than {slack} after {reference} (got "),
        value.dt.to_string("%+"), pl.lit(", limit "), limit.dt.to_string("%+"), pl.lit(")")))


def not_before(column: str, bound: datetime) -> RowRule:
    """`column` (a datetime, any time zone) is at or after `bound` (naive: read as UTC), e.g.
    an event time not before 1970-01-01; a placeholder 0001-01-01 breaks it."""
    bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
    value = pl.col(column)
    micros = (bound - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return RowRule(column, value.dt.epoch("us") < micros, pl.concat_str(
        pl.lit(f"{column}: before {bound.isoformat()} (got "), value.dt.to_string("%+"),
        pl.lit(")")))


def finite_rules(contract: type[pa.DataFrameModel]) -> list[RowRule]:
    """`finite` for every float column of `contract` that does not declare
    `ALLOW_NON_FINITE` in its metadata."""
    return [
        finite(name) for name, column in contract.to_schema().columns.items()
        if column.dtype.type.is_float() and not (column.metadata or {}).get(ALLOW_NON_FINITE)
    ]


def _row_rule_reasons(typed: pl.DataFrame, rules: Sequence[RowRule]) -> pl.DataFrame:
    frames = [
        typed.filter(rule.broken.fill_null(False)).select(
            pl.col(_ROW), pl.lit(rule.column).alias("column"), rule.reason.alias("reason"))
        for rule in rules
    ]
    return pl.concat([_no_reasons(), *frames])


def _no_reasons() -> pl.DataFrame:
    return pl.DataFrame(schema={_ROW: pl.UInt32, "column": pl.String, "reason": pl.String})


@dataclass(frozen=True)
class ContractResult:
    valid: pl.DataFrame
    """Rows that passed, with typed columns (plus any pass-through columns of the input)."""
    rejected: pl.DataFrame
    """Rows that failed, with the raw text columns and `_reasons` (list of broken rules)."""


# pl.format panics on some string-view columns read from Delta (polars 2.1); concat_str works.
def _cast_reasons(raw: pl.DataFrame, schema: pl.Schema, typed: pl.DataFrame) -> pl.DataFrame:
    frames = []
    for column, dtype in schema.items():
        failed = raw[column].is_not_null() & typed[column].is_null()
        if failed.any():
            frames.append(
                raw.filter(failed).select(
                    pl.col(_ROW),
                    pl.lit(column).alias("column"),
                    pl.concat_str(pl.lit(f"{column}: cannot read "), pl.col(column),
                                  pl.lit(f" as {dtype}")).alias("reason"),
                )
            )
    return pl.concat([_no_reasons(), *frames])


def _nested_reasons(raw: pl.DataFrame, schema: pl.Schema, nested: str) -> pl.DataFrame:
    """A reason for every (row, column) whose landed JSON value the contract refuses for its
    type: `nested` holds each row's JSON list of such column names (null when none), whose
    text is an array or object (any column: `a nested value`) or, in a `str` column, a number
    or boolean (`expected a string, got number 123`)."""
    rows = raw.filter(pl.col(nested).is_not_null())
    names = pl.col(nested).str.json_decode(pl.List(pl.String))
    frames = []
    for column, dtype in schema.items():
        text = pl.col(column)
        preview = text.str.slice(0, NESTED_PREVIEW)
        reason = pl.concat_str(pl.lit(f"{column}: a nested value (array or object), got "),
                               preview)
        if dtype == pl.String:
            kind = pl.when(text.is_in(["true", "false"])).then(pl.lit("boolean ")).otherwise(
                pl.lit("number "))
            scalar = pl.concat_str(pl.lit(f"{column}: expected a string, got "), kind, preview)
            reason = pl.when(text.str.contains(r"^[\[{]")).then(reason).otherwise(scalar)
        frames.append(rows.filter(names.list.contains(column)).select(
            pl.col(_ROW), pl.lit(column).alias("column"), reason.alias("reason")))
    return pl.concat([_no_reasons(), *frames])


def _rule_reasons(contract: type[pa.DataFrameModel], typed: pl.DataFrame) -> pl.DataFrame:
    try:
        contract.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.filter(pl.col("index").is_not_null())
        return cases.select(
            pl.col("index").cast(pl.UInt32).alias(_ROW),
            pl.col("column").cast(pl.String),
            pl.concat_str(pl.col("column"), pl.lit(": "), pl.col("check"), pl.lit(" (got "),
                          pl.col("failure_case").cast(pl.String).fill_null("null"), pl.lit(")"))
            .alias("reason"),
        )
    return _no_reasons()


def apply_contract(
    raw: pl.DataFrame, schema: pl.Schema, contract: type[pa.DataFrameModel],
    rules: Sequence[RowRule] = (), nested: str | None = None,
) -> ContractResult:
    """Split raw text rows into typed valid rows and quarantined rows with reasons.

    A row is valid when its text reads as `schema`, it passes `contract`, its floats are
    finite (see `ALLOW_NON_FINITE`), it keeps every one of `rules` and, if `nested` names a
    column of `raw` (a JSON list of the columns whose landed JSON value is of a type the
    contract refuses, null when none), none of its values is listed there: such a value is
    refused with the reason `<column>: a nested value (array or object), got <its JSON text,
    first 64 characters>`, or, for a number or boolean in a `str` column, `<column>: expected
    a string, got number 123` (and no other reason for that column). `nested` is not among
    the valid rows' columns.
    """
    raw = raw.with_row_index(_ROW)
    typed = raw.with_columns(typed_column(c, d).alias(c) for c, d in schema.items())
    refused = _nested_reasons(raw, schema, nested) if nested else _no_reasons()
    own = pl.concat([
        refused,
        pl.concat([_cast_reasons(raw, schema, typed),
                   _row_rule_reasons(typed, [*finite_rules(contract), *rules])])
        .join(refused.select(_ROW, "column"), on=[_ROW, "column"], how="anti"),
    ])
    checked = _rule_reasons(contract, typed.select(schema.names()))
    # a value that could not be typed, or is not a number, is reported once (not as a null)
    checked = checked.join(own.select(_ROW, "column"), on=[_ROW, "column"], how="anti")
    reasons = (
        pl.concat([own, checked])
        .group_by(_ROW)
        .agg(pl.col("reason").unique(maintain_order=True).sort().alias(REASONS))
    )
    flagged = raw.join(reasons, on=_ROW, how="left")
    bad = pl.col(REASONS).is_not_null()
    return ContractResult(
        valid=typed.filter(~pl.col(_ROW).is_in(reasons[_ROW].implode()))
        .drop(_ROW, *([nested] if nested else [])),
        rejected=flagged.filter(bad).sort(_ROW).drop(_ROW),
    )
