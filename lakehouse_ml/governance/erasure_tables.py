"""The Delta part of an erasure: which tables hold a data subject, and removing it.

`find` reads every table of the environment (not the lakehouse's bookkeeping: audit log and
lineage hold names and versions, never row values) as stored, without row filters or masks,
for the rows `erasure_match` recognises, in its latest version, in the data files older
versions still reference and in the statistics its Delta log keeps (min/max values of each
column per file). `erase` then DELETEs those rows, VACUUMs with no retention and purges the
log (`Lake.purge_log`), so no data file, older version or log entry still holds the subject;
a table only older files or log entries hold it in is vacuumed and purged (0 rows). Only
tables holding the subject are touched, and in them only the files holding it are rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance import erasure_match as m
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.lake.predicates import identifier, in_list, quoted

ROW_IDS = ("_record_id", "request_id")
"""Columns naming a row, by which rows found inside a text are deleted."""
REJECTED = ("_rejects", "_quarantine")
"""Tables whose rows are lines bronze rejected or silver quarantined (`malformed`)."""


@dataclass(frozen=True)
class Holder:
    """A table holding the subject (in its latest version, or only in older files/log)."""

    name: str
    location: str
    rows: int
    predicate: str | None
    """The DELETE predicate of its rows (None: none in the latest version)."""
    problem: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    """Full name."""
    short: str
    """`schema.table`."""
    location: str
    info: TableInfo


def tables(catalog: Catalog) -> list[Table]:
    """Every table of the environment but the lakehouse's bookkeeping, where the root now
    keeps it (`Catalog.tables`), by name: listed by the engine (an ungoverned catalog), not
    as the principal, whose governed listing leaves out what it may not see. An erasure
    must plan every table holding the subject, and each one it would change is then
    checked as the principal (MODIFY, denied by name): a hidden table is refused, never
    skipped."""
    engine = Catalog(catalog.root, catalog.env, governed=False)
    return [Table(t.name, t.name.split(".", 1)[1], t.location, t.info) for t in engine.tables()]


def schemas(catalog: Catalog) -> dict[str, pl.Schema]:
    """`schema.table` → its schema, for every table of the environment."""
    return {t.short: catalog.lake.schema(t.location) for t in tables(catalog)}


def keys_of(catalog: Catalog, subject: Subject,
            derived: Mapping[str, Mapping[str, list[tuple[str, str]]]]
            ) -> dict[str, dict[str, tuple[pl.DataType, Any]]]:
    """`schema.table` → key column → (type, the subject's value as that type). ValueError
    when no table has the column, or the value is not of a key column's type."""
    found = m.key_columns(subject, schemas(catalog), derived)
    if not found:
        raise ValueError(f"--key {subject.column}=...: no table of {catalog.env} has a column "
                         f"{subject.column!r}")
    return {t: {c: (d, m.typed(subject, d, f"{catalog.env}.{t}.{c}")) for c, d in cols.items()}
            for t, cols in found.items()}


def needles(catalog: Catalog, subject: Subject,
            keys: Mapping[str, Mapping[str, tuple[pl.DataType, Any]]]) -> m.Needles:
    """The subject's pii values (each `pii`-tagged column's values in the rows its key found
    in tables holding both)."""
    pii: dict[str, set[str]] = {}
    for table in tables(catalog):
        short = table.short
        tagged = table.info.pii_columns() & set(catalog.lake.schema(table.location))
        if short not in keys or not tagged:
            continue
        rows = catalog.lake.scan(table.location).filter(_key_filter(keys[short]))
        for column, values in rows.select(sorted(tagged)).collect().to_dict().items():
            pii.setdefault(column, set()).update(str(v) for v in values if v not in (None, ""))
    return m.Needles(subject, {c: frozenset(v) for c, v in pii.items()})


def _key_filter(keys: Mapping[str, tuple[pl.DataType, Any]]) -> pl.Expr:
    return pl.any_horizontal([m.key_match(c, d, v) for c, (d, v) in keys.items()]).fill_null(
        False)


def _predicate(keys: Mapping[str, tuple[pl.DataType, Any]], raw: Mapping[str, list[str]],
               pii: Mapping[str, frozenset[str]], ids: Mapping[str, list[str]]) -> str:
    """Delta SQL for the rows: typed keys equal, text keys among the texts found, pii values,
    row ids of rows found inside a text."""
    parts = [f"{identifier(c)} = {v if isinstance(v, int) else quoted(v)}"
             for c, (d, v) in keys.items() if d != pl.String]
    parts += [in_list(c, values) for c, values in {**raw, **pii, **ids}.items() if values]
    return " OR ".join(f"({p})" for p in parts)


def find(catalog: Catalog, needles_: m.Needles,
         keys: Mapping[str, Mapping[str, tuple[pl.DataType, Any]]]) -> list[Holder]:
    """Every table holding the subject, with its rows in the latest version."""
    found = []
    for table in tables(catalog):
        short = table.short
        holder = _holder(catalog, table.name, table.location, keys.get(short, {}), needles_)
        if holder is not None:
            found.append(holder)
    return found


def _holder(catalog: Catalog, name: str, location: str,
            keys: Mapping[str, tuple[pl.DataType, Any]], needles_: m.Needles) -> Holder | None:
    frame = catalog.lake.scan(location)
    schema = frame.collect_schema()
    direct = [*([_key_filter(keys)] if keys else []), *m.pii_match(schema, needles_)]
    by_key = (frame.filter(pl.any_horizontal(direct).fill_null(False)).collect() if direct
              else pl.DataFrame(schema=schema))
    texts = m.text_columns(schema, keys, needles_)
    by_text = _text_rows(frame, texts, needles_, schema)
    value = needles_.subject.value
    raw = {c: sorted({v for v in by_key[c].to_list() if v is not None and v.strip() == value})
           for c, (d, _) in keys.items() if d == pl.String}
    pii = {c: v for c, v in needles_.pii.items() if c in schema}
    ids, problem, rows = {}, None, by_key.height
    if by_text.height:
        row_id = next((c for c in ROW_IDS if c in schema), None)
        if row_id is None:
            problem = (f"{by_text.height} row(s) name the subject inside a text, and the table "
                       f"has no row id column ({', '.join(ROW_IDS)}) to delete them by")
        else:
            ids = {row_id: sorted(set(by_text[row_id].drop_nulls().to_list()))}
            known = set(by_key[row_id].drop_nulls().to_list())
            rows += by_text.filter(~pl.col(row_id).is_in(list(known))).height
    if rows:
        return Holder(name, location, rows, _predicate(keys, raw, pii, ids), problem)
    if problem is not None or _older_hold(catalog, location, keys, needles_):
        return Holder(name, location, 0, None, problem)
    return None


def _text_rows(frame: pl.LazyFrame, texts: list[str], needles_: m.Needles,
               schema: pl.Schema) -> pl.DataFrame:
    cheap = m.text_prefilter(texts, needles_)
    if cheap is None:
        return pl.DataFrame(schema=schema)
    candidates = frame.filter(cheap).collect()
    hits = [any(m.mentions(row[c], needles_) for c in texts)
            for row in candidates.select(texts).iter_rows(named=True)]
    return candidates.filter(pl.Series(hits, dtype=pl.Boolean))


def _older_hold(catalog: Catalog, location: str, keys: Mapping[str, tuple[pl.DataType, Any]],
                needles_: m.Needles) -> bool:
    """Whether data files the latest version does not reference, or the statistics of the
    Delta log, still hold the subject (local tables, at a path or a `file://` URI: an object
    store's are not listed)."""
    folder = Path(location.removeprefix("file://"))
    if not folder.is_dir():
        return False
    current = {Path(u.removeprefix("file://")).name
               for u in catalog.lake.table(location).file_uris()}
    older = [str(p) for p in folder.rglob("*.parquet")
             if "_delta_log" not in p.parts and p.name not in current]
    if older and _files_hold(older, keys, needles_):
        return True
    return any(_stats_hold(stats, keys, needles_) for stats in _log_stats(folder))


def _files_hold(files: list[str], keys: Mapping[str, tuple[pl.DataType, Any]],
                needles_: m.Needles) -> bool:
    """Whether one of the Parquet `files` has a row of the subject's, recognised as in the
    latest version: its key, one of its pii values, or the key named inside a text (one that
    cannot be read counts as holding it: it is vacuumed)."""
    for file in files:
        try:
            frame = pl.scan_parquet(file)
            schema = frame.collect_schema()
            present = {c: k for c, k in keys.items() if c in schema}
            direct = [*([_key_filter(present)] if present else []),
                      *m.pii_match(schema, needles_)]
            if direct and frame.filter(pl.any_horizontal(direct).fill_null(False)).head(
                    1).collect().height:
                return True
            texts = m.text_columns(schema, present, needles_)
            if _text_rows(frame, texts, needles_, schema).height:
                return True
        except (OSError, pl.exceptions.PolarsError):
            return True
    return False


def _log_stats(folder: Path) -> list[str]:
    """The `stats` texts of every add/remove action in the table's log (commits and
    checkpoints)."""
    found = []
    for commit in sorted((folder / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line) if line.strip() else {}
            for kind in ("add", "remove"):
                if isinstance(action.get(kind), dict) and action[kind].get("stats"):
                    found.append(action[kind]["stats"])
    for checkpoint in (folder / "_delta_log").glob("*.checkpoint*.parquet"):
        adds = pl.read_parquet(checkpoint, columns=["add"])["add"].struct.field("stats")
        found += adds.drop_nulls().to_list()
    return found


def _stats_hold(stats: str, keys: Mapping[str, tuple[pl.DataType, Any]],
                needles_: m.Needles) -> bool:
    try:
        parsed = json.loads(stats)
    except ValueError:
        return False
    bounds = [parsed.get("minValues") or {}, parsed.get("maxValues") or {}]
    for bound in bounds:
        for column, (_, value) in keys.items():
            if column in bound and str(bound[column]).strip() == str(value).strip():
                return True
        for column, values in needles_.pii.items():
            if bound.get(column) in values:
                return True
    return False


def erase(catalog: Catalog, holder: Holder) -> ErasedPlace:
    """DELETE the holder's rows, VACUUM with no retention, purge the log. The principal's
    MODIFY is checked (and audited) by each call."""
    written = 0
    if holder.predicate is not None:
        before = _file_sizes(catalog, holder.location)
        catalog.delete(holder.name, holder.predicate)
        written = sum(size for path, size in _file_sizes(catalog, holder.location).items()
                      if path not in before)
    catalog.vacuum(holder.name, 0, enforce_retention_duration=False)
    catalog.lake.purge_log(holder.location)
    return place(holder, written)


def place(holder: Holder, written: int = 0) -> ErasedPlace:
    """The holder as an erased place (`written` bytes; 0 in a dry run)."""
    rejected = any(holder.name.endswith(s) for s in REJECTED)
    return ErasedPlace("table", holder.name, holder.rows, written,
                       malformed=holder.rows if rejected else 0, problem=holder.problem)


def _file_sizes(catalog: Catalog, location: str) -> dict[str, int]:
    actions = catalog.lake.table(location).get_add_actions(flatten=True)
    return dict(zip(actions.column("path").to_pylist(),
                    actions.column("size_bytes").to_pylist(), strict=True))
