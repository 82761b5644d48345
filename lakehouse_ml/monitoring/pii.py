"""Which columns of a monitored table are pii, and how their values leave it.

A column the catalog tags `pii` is pii; so is every column of a table the catalog has not
registered (its tags are unknown: fail closed). A slicing expression that names a pii column,
itself or inside an expression (`email`, `upper(email)`), reveals pii through its slice
values. Reports, checks and logs show such a value as HIDDEN; the metric tables store it
hashed (`hashed`), so slices stay distinct and joinable without the value in clear."""

from __future__ import annotations

import hashlib
from collections.abc import Collection

import polars as pl

from lakehouse_ml.catalog import Catalog, TableNotFound

HIDDEN = "(pii: not shown)"
HASH_PREFIX = "sha256:"


def pii_of(catalog: Catalog, table: str) -> tuple[set[str], str | None]:
    """(columns of `table` to treat as pii, why every column is when it is): the columns the
    catalog tags `pii`; none when the table does not exist; every column of the table, with
    the reason, when its catalog entry is missing or unreadable (its tags are unknown)."""
    if not catalog.exists(table):
        return set(), None
    try:
        return catalog.describe(table).info.pii_columns(), None
    except (TableNotFound, OSError, ValueError) as error:
        return set(catalog.scan(table).collect_schema().names()), (
            f"the catalog entry of {table} cannot be read ({error}): its pii tags are "
            "unknown, so every column is treated as pii (masked or hashed wherever it "
            "leaves)")


def pii_columns(catalog: Catalog, table: str) -> set[str]:
    """Columns of `table` to treat as pii: see `pii_of` (every column of an unregistered
    table)."""
    return pii_of(catalog, table)[0]


def slice_pii(catalog: Catalog, table: str) -> set[str] | None:
    """The pii columns to judge `table`'s slices by (`reveals_pii`): `pii_columns`, or None
    when the table does not exist (its tags are unknown: every slice value is hidden)."""
    return pii_columns(catalog, table) if catalog.exists(table) else None


def reveals_pii(slice_key: str | None, pii: Collection[str] | None) -> bool:
    """True when the slicing expression `slice_key` names a pii column, itself or inside an
    expression (`upper(email)`): its slice values would show the column's values. Matched as
    text, case-insensitive, so a quoted or look-alike name masks too (fail closed). `pii`
    None (the table's tags are unknown, `slice_pii`): always True."""
    key = (slice_key or "").lower()
    return pii is None or any(column.lower() in key for column in pii)


def masked_slice_value(slice_keys: Collection[str | None],
                       pii: Collection[str] | None) -> pl.Expr:
    """`slice_value` with HIDDEN for the slicing expressions of `slice_keys` that reveal pii
    (`reveals_pii`; every one when `pii` is None)."""
    hidden = [key for key in slice_keys if reveals_pii(key, pii)]
    return (pl.when(pl.col("slice_key").is_in(hidden)).then(pl.lit(HIDDEN))
            .otherwise(pl.col("slice_value")).alias("slice_value"))


def digest(text: str) -> str:
    """`sha256:` and the first 16 hex digits of the SHA-256 of `text` (UTF-8)."""
    return HASH_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:16]


def hashed(value: pl.Expr) -> pl.Expr:
    """`value` (text) as its `digest`; NULL stays NULL."""
    return value.map_elements(digest, return_dtype=pl.String, skip_nulls=True)
