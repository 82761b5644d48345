"""Silver contracts: type the raw text, check it with pandera, and say why a row was refused.

A row is either valid (typed, ready for silver) or quarantined with every rule it broke; no row
is ever dropped here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

REASONS = "_reasons"
_ROW = "__row"
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
    empty = pl.DataFrame(schema={_ROW: pl.UInt32, "column": pl.String, "reason": pl.String})
    return pl.concat([empty, *frames])


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
    return pl.DataFrame(schema={_ROW: pl.UInt32, "column": pl.String, "reason": pl.String})


def apply_contract(
    raw: pl.DataFrame, schema: pl.Schema, contract: type[pa.DataFrameModel]
) -> ContractResult:
    """Split raw text rows into typed valid rows and quarantined rows with reasons."""
    raw = raw.with_row_index(_ROW)
    typed = raw.with_columns(typed_column(c, d).alias(c) for c, d in schema.items())
    casts = _cast_reasons(raw, schema, typed)
    rules = _rule_reasons(contract, typed.select(schema.names()))
    # a value that could not be typed is reported once, not again as a null
    rules = rules.join(casts.select(_ROW, "column"), on=[_ROW, "column"], how="anti")
    reasons = (
        pl.concat([casts, rules])
        .group_by(_ROW)
        .agg(pl.col("reason").unique(maintain_order=True).sort().alias(REASONS))
    )
    flagged = raw.join(reasons, on=_ROW, how="left")
    bad = pl.col(REASONS).is_not_null()
    return ContractResult(
        valid=typed.filter(~pl.col(_ROW).is_in(reasons[_ROW].implode())).drop(_ROW),
        rejected=flagged.filter(bad).sort(_ROW).drop(_ROW),
    )
