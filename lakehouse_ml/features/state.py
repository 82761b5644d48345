"""A feature builder's kept state: rows that let the next refresh start from them, not the history.

A `StatefulBuild` is a snapshot builder (`FeatureTableSpec.build`: inputs, days -> snapshots)
that can also start from a `Carried` state and hand back the state to keep. `refresh_feature_table`
keeps it in the table `<feature table>_state` (an overwrite after a chunk, when it is
`keep_every` days newer than the state kept: `due`), with the last day of data it holds in the
column `STATE_AS_OF`, and passes it to the next build only when it is
usable: held up to a day before the first snapshot's eve, and no data of a day it holds changed
since (`earliest_touched`); a state holding a day late data touched is deleted. Otherwise the
builder reads the look-back as without a state, so a missing, stale or unusable state changes
the cost, never the snapshots.

A state is trusted only when it provably is what `write` wrote (`read`): the commit of its write
records its day and row count (`WRITTEN_BY`), no later commit changed its data, and its files
are those that commit wrote (sizes, Parquet footers, row counts: from the log and the footers,
not the rows). A state rewritten by anything else, or whose files or log cannot be read, is not
used: a warning names the state table and why, the table is emptied (its log unreadable: its
files are deleted), and the refresh builds from its inputs and keeps a new state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
from deltalake.exceptions import DeltaError

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.registry import TableInfo
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.lake import ROW_GROUP_ROWS

log = logging.getLogger(__name__)

STATE_AS_OF = "state_as_of"
"""Column of the state table: the last day of data its rows hold (the same in every row)."""

WRITTEN_BY = "lakehouse_ml.state"
"""Entry of the `commitInfo` of a state's write (`write`): {"as_of": its day (ISO), "rows": its
row count}. A state table whose data changed after the latest such commit is not trusted."""


KEEP_EVERY = 7
"""Default days between two writes of a kept state. A refresh writes the state (an overwrite of
every row: 3.65M at 50,000 customers, about 0.6 CPU-s) only when it holds at least this many
days more than the state kept, and otherwise starts the next refresh from the older state, which
then reads up to this many days more of its inputs after it (about 0.05 s per 7 days of
sightings at 50,000 customers): a daily refresh pays the write one day in `KEEP_EVERY`."""


@dataclass(frozen=True)
class Carried:
    """State rows holding the data of every day up to `as_of` (inclusive)."""

    rows: pl.LazyFrame
    as_of: date


StateBuilder = Callable[
    [Mapping[str, pl.LazyFrame], Sequence[date], "Carried | None", date],
    tuple[pl.LazyFrame, "Carried | None"],
]
"""(inputs, snapshot days, state or None, day to keep the state as of) -> (snapshots, the state
as of that day, or None when it keeps none)."""


@dataclass(frozen=True)
class StatefulBuild:
    """A snapshot builder with a kept state. Called as a plain builder it keeps none and reads
    the whole look-back; `build` with a usable state gives the same snapshots."""

    build: StateBuilder
    description: str
    """What the state rows are (the state table's comment)."""
    keep_every: int = KEEP_EVERY
    """Days between two writes of the state (`due`)."""

    def __call__(self, inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]
                 ) -> pl.LazyFrame:
        return self.build(inputs, days, None, date.min)[0]


def state_table(feature_table: str) -> str:
    """Name of a feature table's state table (`schema.table`)."""
    return f"{feature_table}_state"


def keep_as_of(days: Sequence[date], max_lateness_days: int) -> date:
    """The day a state should hold data up to after building `days`: the day before the eve of
    the earliest snapshot a later refresh redoes for records up to `max_lateness_days` late.
    Landing day P yields the snapshot P + 1 (eve P), and its records of day X redo the
    snapshots from X + 1 (eve X): with X >= P - lateness, a state up to P - lateness - 1 =
    max(days) - lateness - 2 serves that refresh. Older records touch a day the state holds:
    that refresh deletes it and builds from its inputs (`start`), so a larger lateness keeps
    an older state (a longer read after it on every refresh) and rebuilds less often."""
    return max(days) - timedelta(days=max_lateness_days + 2)


def due(kept: date | None, as_of: date, every: int) -> bool:
    """Whether a state as of `as_of` replaces the one kept as of `kept` (None: none is kept):
    it is at least `every` days newer. Never an older state than the one kept (`every` >= 1);
    `every` = 1 writes every newer state."""
    return kept is None or as_of >= kept + timedelta(days=max(every, 1))


def usable(state: Carried | None, days: Sequence[date], earliest_touched: date | None
           ) -> Carried | None:
    """`state` if the snapshots of `days` may start from it: it ends before the first
    snapshot's eve, and no record of a day it holds was written since."""
    if state is None or not days or state.as_of >= min(days) - timedelta(days=1):
        return None
    if earliest_touched is not None and earliest_touched <= state.as_of:
        return None
    return state


class _Untrusted(Exception):
    """The state table is readable but not provably what `write` wrote (the reason)."""


def _unreadable(error: BaseException) -> bool:
    """Whether `error`, raised reading a state table, says its log or files cannot be read:
    Delta's errors, I/O errors, JSON, Arrow or Polars errors, or a panic in Rust (pyo3's
    PanicException, a BaseException). A denial by the catalog is not one."""
    if isinstance(error, PermissionDenied):
        return False
    return (isinstance(error, DeltaError | OSError | ValueError | pl.exceptions.PolarsError)
            or type(error).__name__ == "PanicException")


def _load(catalog: Catalog, name: str) -> Carried | None:
    """The state in the table `name` (which exists), or None when it has no rows; _Untrusted
    when it is not provably what `write` wrote (see the module's docstring). Reads the log
    and the data files' footers, not the rows."""
    lake, uri = catalog.lake, catalog.location(name)
    table = lake.table(uri)
    version = table.version()
    files = pl.DataFrame(table.get_add_actions(flatten=True))
    if files.is_empty():
        return None  # emptied: a stale state (`start`) or an untrusted one (`read`)
    found = lake.written_by(uri, WRITTEN_BY)
    if found is None:
        raise _Untrusted("its data was not written by the state's own write (rewritten by "
                         "another write, or written before writes recorded their state)")
    written, record = found
    try:
        as_of, rows = date.fromisoformat(record["as_of"]), int(record["rows"])
    except (KeyError, TypeError, ValueError) as error:
        raise _Untrusted(f"the record of its write (version {written}) is not one: "
                         f"{record!r}") from error
    held = files["num_records"].sum() if "num_records" in files.columns else None
    if held != rows:
        raise _Untrusted(f"it holds {held} rows, its write (version {written}) {rows}")
    for bound in (f"min.{STATE_AS_OF}", f"max.{STATE_AS_OF}"):
        if bound in files.columns and not (files[bound] == as_of).all():
            raise _Untrusted(f"its {STATE_AS_OF} values are not {as_of}, the day its write "
                             f"(version {written}) recorded")
    damaged = lake.damaged_files(uri, version, footers=True)
    if damaged:
        path, why = next(iter(damaged.items()))
        raise _Untrusted(f"{len(damaged)} of its data files damaged ({path}: {why})")
    kept = catalog.scan(name, version).filter(pl.col(STATE_AS_OF) == as_of)
    return Carried(kept.drop(STATE_AS_OF), as_of)


def _said(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def read(catalog: Catalog, table: str) -> Carried | None:
    """The kept state of `table`'s builder, or None if there is none (or it has no rows).

    A state not provably written by `write` (its commit's `WRITTEN_BY` record, no data
    changed since, its files as committed) or that cannot be read is None too: a warning
    names the state table and why, and the table is emptied (an overwrite with no rows; its
    log unreadable: its files are deleted, `Catalog.discard`), so that the refresh builds
    from its inputs and the next `write` keeps a new state."""
    name = state_table(table)
    if not catalog.exists(name):
        return None
    try:
        return _load(catalog, name)
    except BaseException as error:
        if not isinstance(error, _Untrusted) and not _unreadable(error):
            raise
        readable = isinstance(error, _Untrusted)
        why = str(error) if readable else f"unreadable ({_said(error)})"
    done = ""
    if readable:  # its log is sound: an overwrite with no rows (no data file is read)
        try:
            catalog.overwrite(name, pl.DataFrame(schema=catalog.schema(name)))
            done = "emptied it"
        except BaseException as error:
            if not _unreadable(error):
                raise
            why += f"; emptying it failed ({_said(error)})"
    if not done:
        try:
            catalog.discard(name)
        except PermissionDenied:
            raise
        except OSError as error:
            raise OSError(f"{name}: kept state not used, {why}; deleting its files failed "
                          f"({_said(error)}): delete {catalog.location(name)}") from error
        done = "deleted its files"
    log.warning("%s: kept state not used, %s; %s: the refresh builds from its inputs instead "
                "(the same snapshots, a longer build) and keeps a new state", name, why, done)
    return None


def start(catalog: Catalog, table: str, days: Sequence[date], earliest_touched: date | None
          ) -> tuple[Carried | None, date | None]:
    """The kept state a refresh of `days` may start from (`usable`) or None, and the day of the
    valid state kept (None if none: a later state replaces it, an earlier one must not). A
    state holding a day that `earliest_touched` reaches is stale: its rows are deleted, so that
    no later refresh starts from it either."""
    stored = read(catalog, table)
    if stored is not None and earliest_touched is not None and earliest_touched <= stored.as_of:
        catalog.delete(state_table(table), "true")
        return None, None
    return usable(stored, days, None), None if stored is None else stored.as_of


def write(catalog: Catalog, table: str, state: Carried, description: str, owner: str,
          sort_by: Sequence[str] = ()) -> Carried:
    """Replace the kept state of `table`'s builder with `state`, its rows sorted by the columns
    `sort_by` (the feature table's entity keys: a build reading the state one range of keys at
    a time then decodes only that range's row groups, of `lake.ROW_GROUP_ROWS`); returns
    it as now stored."""
    name = state_table(table)
    rows = (state.rows.sort(sort_by) if sort_by else state.rows).with_columns(
        pl.lit(state.as_of).alias(STATE_AS_OF)).collect(engine="streaming")
    if sort_by:  # delta-rs writes the chunks of a frame in parallel, interleaving them
        rows = rows.rechunk()
    if not catalog.exists(name):
        catalog.create_table(name, rows.schema, TableInfo(
            owner=owner, comment=f"Kept state of {table}'s builder: {description}",
            column_comments={STATE_AS_OF: "last day of data the rows hold"}))
    catalog.overwrite(name, rows, row_group_rows=ROW_GROUP_ROWS, commit_metadata={
        WRITTEN_BY: {"as_of": state.as_of.isoformat(), "rows": rows.height}})
    return Carried(catalog.scan(name).drop(STATE_AS_OF), state.as_of)
