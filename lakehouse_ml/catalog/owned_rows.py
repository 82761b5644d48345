"""Tables whose rows belong to other tables: `pipeline.progress`, where each row records what
the table its `table` column names (`catalog.schema.table`) processed.

Every domain's pipeline holds MODIFY on `pipeline.progress` (the engine's bookkeeping, one
table for all domains), so the table's privilege alone would let one pipeline write another
domain's marks: a mark from the future freezes that domain's day, one for a batch it has not
refined fails its silver conservation. So the Catalog decides each write's rows too
(`RowWrite`, `check_write`): a principal that is not a metastore admin writes (appends,
merges, deletes, overwrites) only rows of tables it holds MODIFY on, counting the rows it adds
and the stored rows the write would change or remove (those a delete's or overwrite's
predicate matches, all of them for a whole overwrite, those a merge's keys match). One other
row denies the whole write before anything is written: PermissionDenied naming the principal,
MODIFY and the table of the offending row (a row naming no table is no one's), audited as a
403 `checkPermission` like every denial. The offending row's table is named only to a principal
that may see it (the catalog's rule, as for reads below); to any other the denial is on
`pipeline.progress`, "a row of a table it may not see", whether that table exists or not (the
audit record, read by admins, names it). The write is then narrowed to the tables checked
(`only`), so a row another pipeline appends between the check and the commit is not touched.
Compacting and vacuuming change no row: MODIFY on the table is enough.

Reads are limited too (`visible_rows`): a principal that is not a metastore admin reads only
the rows of tables it may see (the rule of `Catalog.describe`: BROWSE on the catalog, or USE
on the containers and a privilege on the table). The rows hold no data, only table names,
batch days and ingestion times, but the catalog shows a table's name only to those who may see
it (`tables`, `exists`), and the engine reads only its own domain's rows (an input of another
domain is not tracked by `medallion.progress`), so the filter hides nothing a pipeline needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from lakehouse_ml.catalog.access import Access
from lakehouse_ml.catalog.names import TableName
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.lake import Lake
from lakehouse_ml.lake.predicates import in_list

PROGRESS = "pipeline.progress"
"""The engine's bookkeeping: which landed batches each table processed
(`lakehouse_ml.medallion.progress`)."""
OWNED_ROWS = {PROGRESS: "table"}
"""`schema.table` -> the column naming the table (full name) each of its rows belongs to."""


def owner_column(name: TableName) -> str | None:
    """The column naming each row's table when `name`'s rows belong to other tables."""
    return OWNED_ROWS.get(name.short)


@dataclass(frozen=True)
class RowWrite:
    """The rows one write touches: `added` (appended, inserted, or the new content of updated
    rows); stored rows removed or replaced where `replaces` (those `where` matches, every row
    when None); stored rows matched on `keys` by an added row (a merge)."""

    added: pl.DataFrame
    replaces: bool = False
    where: str | None = None
    keys: Sequence[str] = ()


def _touched(lake: Lake, uri: str, column: str, write: RowWrite) -> set[str | None]:
    added = write.added
    owners: set[str | None] = set()
    if added.height:  # a row without the column belongs to no table
        owners = set(added.get_column(column).to_list()) if column in added.columns else {None}
    if write.replaces:
        owners |= set(lake.values_where(uri, column, write.where))
    if write.keys:
        stored = pl.scan_delta(lake.table(uri)).select(*dict.fromkeys([*write.keys, column]))
        matched = stored.join(added.lazy().select(write.keys), on=list(write.keys),
                              how="semi")
        owners |= set(matched.select(column).collect().get_column(column).to_list())
    return owners


NO_TABLE = "a row naming no table: only a metastore admin writes one"
"""Why a write of a row whose table column is empty (or missing) is denied, on the table."""
UNSEEN = ("a row of a table it may not see: a principal writes only the rows of tables it may "
          "MODIFY")
"""Why a write of a row of a table the principal may not see is denied, on the table written
(naming that table would tell it exists)."""


def check_write(access: Access, lake: Lake, principal: str, name: TableName, uri: str,
                write: RowWrite) -> list[str] | None:
    """The tables whose rows in `name` the write touches, each one `principal` holds MODIFY
    on (the write is to be narrowed to them, see `only`); None when nothing is to be
    narrowed (a metastore admin, a table whose rows belong to no other table). Else
    PermissionDenied naming `principal`, MODIFY and the table of the first offending row
    (in name order; a row naming no table first), audited; also when the rows touched cannot
    be decided (a predicate DataFusion cannot evaluate, a missing column): fail closed."""
    column = owner_column(name)
    if column is None or access.is_admin(principal):
        return None
    params = {"securable": s.key(s.TABLE, str(name))}
    try:
        owners = _touched(lake, uri, column, write)
    except Exception as error:  # noqa: BLE001 - rows not decided deny the write
        denied = pv.PermissionDenied(
            principal, pv.MODIFY, params["securable"], "cannot tell which tables' rows the "
            f"write touches: {type(error).__name__}: {error}")
        access.deny(denied, params)
        raise denied from error
    named = sorted(o for o in owners if o is not None)
    for owner in ([None] if None in owners else []) + named:
        if owner is None:
            denied = pv.PermissionDenied(principal, pv.MODIFY, params["securable"], NO_TABLE)
        elif access.holds(principal, pv.MODIFY, s.TABLE, owner):
            continue
        elif access.visible(principal, s.TABLE, [owner]):
            denied = pv.PermissionDenied(
                principal, pv.MODIFY, s.key(s.TABLE, owner), f"needed to write its rows in "
                f"{name}: a principal writes only the rows of tables it may MODIFY")
        else:
            denied = pv.PermissionDenied(principal, pv.MODIFY, params["securable"], UNSEEN)
        access.deny(denied, {**params, "row_table": str(owner)})
        raise denied
    return named


def only(column: str, owners: Iterable[str], predicate: str | None, alias: str | None = None
         ) -> str:
    """`predicate` (None: every row) narrowed to the rows of `owners`."""
    within = in_list(column, owners, alias)
    return within if predicate is None else f"({predicate}) AND {within}"


def visible_rows(access: Access, principal: str, name: TableName, frame: pl.LazyFrame
                 ) -> pl.LazyFrame:
    """`frame` (the table's rows) without the rows of tables `principal` may not see, when
    `name`'s rows belong to other tables and `principal` is not a metastore admin (one read
    of the owner column decides which)."""
    column = owner_column(name)
    if column is None or access.is_admin(principal):
        return frame
    owners = frame.select(pl.col(column).unique()).collect().get_column(column)
    seen = access.visible(principal, s.TABLE, [o for o in owners.to_list() if o is not None])
    return frame.filter(pl.col(column).is_in(sorted(seen)))
