"""The single entry point for every table read and write in the project.

Names resolve to locations here, tables are registered here when they are created, and access
is enforced here, as the catalog's `principal` (default: `current_principal()`): reading rows
(`read`, `scan`, `changes`) needs USE CATALOG + USE SCHEMA + SELECT, writing them (`append`,
`appender`, `overwrite`, `merge`, `delete`, `optimize`, `vacuum`) MODIFY, creating a table
CREATE TABLE on its schema; row filters and column masks apply to every read before anything
else; each governed call leaves one audit record, each denial one too (see access.py), and
each read and write its lineage (source → target with the versions read and written, see
`lakehouse_ml.governance.lineage`), both with the run they belong to.
A table's metadata (`describe`, `schema`, `version`, `history`, `masked_columns`) and whether
it exists (`exists`) are shown only to a principal who may see the table (the metastore's
rule, `Metastore.describe`: a metastore admin, BROWSE on its catalog, or USE CATALOG + USE
SCHEMA and a privilege on it), and `tables` lists only the tables it may see.
`pipeline.progress`, whose rows belong to the tables they name, is governed row by row too: a
principal writes only rows of tables it may MODIFY and reads only rows of tables it may see
(metastore admins: all), see `owned_rows`.

Every governed call on a table name decides the privilege before it looks at the table, as
Unity Catalog does: a principal without it (e.g. without USE CATALOG or USE SCHEMA) gets the
same PermissionDenied (audited once) whether or not the table exists, and never its storage
path; `TableNotFound` is said only to a principal who would hold the privilege on the table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from lakehouse_ml.catalog.access import READ, READ_WRITE, access
from lakehouse_ml.catalog.names import TableName, validate_environment
from lakehouse_ml.catalog.owned_rows import RowWrite, check_write, only, owner_column, visible_rows
from lakehouse_ml.catalog.registry import RegisteredTable, Registry, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_TABLE
from lakehouse_ml.governance.lineage import LINEAGE_TABLES, MODEL, PATH, Node, current_entity
from lakehouse_ml.governance.lineage import TABLE as LINEAGE_TABLE
from lakehouse_ml.governance.principals import current_principal
from lakehouse_ml.governance.privileges import EXECUTE, MANAGE, MODIFY, SELECT
from lakehouse_ml.lake import Lake, Version

if TYPE_CHECKING:
    from lakehouse_ml.governance.metastore import Metastore


VERSION_ACTION = "createModelVersion"
"""Unity Catalog's audit action for registering a new version of a registered model."""


class TableNotFound(LookupError):
    """The name is valid but no table was created under it."""


def _declared(metastore: Metastore, model: str) -> bool:
    """Whether the metastore declares the registered model `model` (full name)."""
    try:
        metastore.securable(s.MODEL, model)
    except s.UnknownSecurable:
        return False
    return True


class Catalog:
    def __init__(
        self, root: str, env: str, storage_options: dict[str, str] | None = None, *,
        principal: str | None = None, governed: bool = True,
    ) -> None:
        """Acts as `principal` (default: `current_principal()`: `$LAKEHOUSE_PRINCIPAL`, else
        the OS user). `governed=False` is for the lakehouse's own bookkeeping only (the audit
        log's writer): no checks, masks or audit records."""
        self.root = root.rstrip("/")
        self.env = validate_environment(env, source="catalog (environment)")
        self.lake = Lake(storage_options)
        self.registry = Registry(self.root)
        self.principal = current_principal(principal)
        self._access = access(self.root, self.env) if governed else None
        self._bookkeeping = {f"{self.env}.{t}" for t in (*LINEAGE_TABLES, AUDIT_TABLE)}

    @classmethod
    def from_settings(cls, settings: Settings | None = None, principal: str | None = None
                      ) -> Catalog:
        settings = settings or Settings.from_env()
        return cls(settings.root, settings.env, principal=principal)

    # governance
    def _may(self, name: TableName, privilege: str) -> None:
        """PermissionDenied (audited once) unless the principal holds `privilege` on the
        table, decided from the grants whether or not the table exists: one that is not
        declared in the metastore is checked as its stand-in (`Metastore.check_named`), so
        the denial is the same for an existing and a missing table. Then, to a principal
        who would hold it: TableNotFound for a table neither declared nor on storage,
        UnknownSecurable for one on storage but not declared. Ungoverned: nothing."""
        if self._access is None or self._access.check_named(self.principal, privilege,
                                                              s.TABLE, str(name)):
            return
        if self.lake.exists(self.location(name)):
            raise s.UnknownSecurable(f"table {name} does not exist")
        raise self._not_found(name)

    def _record(self, name: TableName, privilege: str, method: str, **params: Any) -> None:
        """The audit record of an allowed read (SELECT) or write (MODIFY) of the table."""
        if self._access is not None:
            self._access.record(self.principal, str(name), READ if privilege == SELECT
                                else READ_WRITE, method, params,
                                run_id=current_entity().run_id)

    def _check(self, name: TableName, privilege: str, method: str, **params: Any) -> None:
        """Check `privilege` on the table (`_may`) and record the access."""
        self._may(name, privilege)
        self._record(name, privilege, method, **params)

    def _lineage(self, node: Node, *, written: bool = False, columns: Sequence[str] = ()
                 ) -> None:
        """Record that this call read (or wrote) `node` in the current run."""
        if self._access is None or node.name in self._bookkeeping:
            return
        from lakehouse_ml.governance.lineage import lineage_log

        log = lineage_log(self.root, self.env)
        if written:
            log.wrote(node, self.principal, columns)
        else:
            log.read(node, self.principal)

    def _table_read(self, name: TableName, uri: str, version: int | None) -> None:
        self._lineage(Node(LINEAGE_TABLE, str(name), uri, version))

    def _table_written(self, name: TableName, uri: str, version: int,
                       columns: Sequence[str] = ()) -> int:
        self._lineage(Node(LINEAGE_TABLE, str(name), uri, version), written=True,
                      columns=columns)
        return version

    def record_path_reads(self, paths: Sequence[str]) -> None:
        """Lineage: this call read the files `paths` outside the catalog (landed files, by
        their manifest path); the next writes in its run name them as sources."""
        for path in paths:
            self._lineage(Node(PATH, None, path))

    def record_model_version(self, model: str, version: int) -> None:
        """This call registered `version` of the model `catalog.schema.model` (after
        `register_model` checked it may): one `createModelVersion` audit record, and lineage
        from what its run read (its training set at the version read)."""
        full = s.parse_name(s.MODEL, model, self.env)
        if self._access is not None:
            self._access.record(self.principal, full, READ_WRITE, "create_model_version",
                                {"version": version}, action=VERSION_ACTION,
                                run_id=current_entity().run_id)
        self._lineage(Node(MODEL, full, None, version), written=True)

    def record_model_read(self, model: str, version: int) -> None:
        """Lineage: this call used `version` of the model `catalog.schema.model`, loaded and
        checked elsewhere (serving); the next writes in its run name it as a source."""
        self._lineage(Node(MODEL, s.parse_name(s.MODEL, model, self.env), None, version))

    def _secured(self, name: TableName, frame: pl.LazyFrame) -> pl.LazyFrame:
        """`frame` (all of the table's columns) through its row filter and column masks;
        of a table whose rows belong to other tables, only the rows of tables the principal
        may see (`owned_rows.visible_rows`)."""
        if self._access is None:
            return frame
        frame = visible_rows(self._access, self.principal, name, frame)
        return self._access.secure(frame, str(name), self.principal)

    def _governed(self, text: str | TableName, privilege: str, method: str, **params: Any
                  ) -> tuple[TableName, str]:
        """The table's name and location for a read (SELECT) or write (MODIFY) of its rows:
        the privilege first (`_may`), then whether it is on storage (TableNotFound), then
        the access's audit record."""
        name, uri = self._allowed(text, privilege)
        self._record(name, privilege, method, **params)
        return name, uri

    def _allowed(self, text: str | TableName, privilege: str) -> tuple[TableName, str]:
        """The privilege on the table (`_may`), then its name and location (TableNotFound)."""
        name = self.name(text)
        self._may(name, privilege)
        return self._existing(name)

    def _readable(self, text: str | TableName, method: str, **params: Any
                  ) -> tuple[TableName, str]:
        return self._governed(text, SELECT, method, **params)

    def _writable(self, text: str | TableName, method: str) -> tuple[TableName, str]:
        return self._governed(text, MODIFY, method)

    def _rows_writable(self, text: str | TableName, method: str, write: RowWrite
                       ) -> tuple[TableName, str, list[str] | None]:
        """`_writable` for a write of rows (`write`): of a table whose rows belong to other
        tables (`pipeline.progress`), each row it touches must be of a table the principal
        may MODIFY (`owned_rows.check_write`), decided before the access's record; returns
        the tables to narrow the write to (None: not narrowed)."""
        name, uri = self._allowed(text, MODIFY)
        owners = None if self._access is None else check_write(
            self._access, self.lake, self.principal, name, uri, write)
        self._record(name, MODIFY, method)
        return name, uri, owners

    def _narrowed(self, name: TableName, owners: list[str] | None, predicate: str | None,
                  alias: str | None = None) -> str | None:
        """`predicate` limited to the rows of `owners` (unchanged when None)."""
        column = owner_column(name)
        if owners is None or column is None:
            return predicate
        return only(column, owners, predicate, alias)

    def _visible(self, text: str | TableName) -> tuple[TableName, str]:
        """The table's name and location for its metadata: governed, only if the principal
        may see it (`Metastore.describe`: BROWSE on its catalog, or USE CATALOG + USE SCHEMA
        and a privilege on it), else PermissionDenied naming BROWSE (audited once, 403
        `getTable`) whether or not it exists; then TableNotFound if it is not on storage."""
        return self._existing(self._seen(text))

    def _seen(self, text: str | TableName) -> TableName:
        """The table's name; governed, PermissionDenied naming BROWSE (audited once) unless
        the principal may see it (`Access.see_table`), whether or not it exists."""
        name = self.name(text)
        if self._access is not None:
            self._access.see_table(self.principal, str(name))
        return name

    def check_model(self, model: str, version: int | None = None) -> None:
        """PermissionDenied (audited) unless the principal holds EXECUTE (to load it) on the
        registered model `catalog.schema.model` (one MLflow registered but not
        declared in the metastore: on its schema); an allowed use is audited too, and is a
        lineage source (of `version`) of what the run writes next. ValueError for a name
        that is not `catalog.schema.model`."""
        if self._access is None:
            return
        model = self.see_model(model)
        self._access.record(self.principal, model, READ, "load_model",
                            run_id=current_entity().run_id)
        self._lineage(Node(MODEL, model, None, version))

    def see_model(self, model: str) -> str:
        """PermissionDenied (audited: a 403 `checkPermission` record) unless the principal
        holds EXECUTE on the registered model `catalog.schema.model`, as Unity Catalog asks to
        read a model version (its metadata and tags; with USE CATALOG + USE SCHEMA; the owner
        and a metastore admin hold it). Decided from the grants before the caller asks the
        registry anything (an alias, a version): the same denial for a model that exists and
        one that does not (`Access.check_within`). An allowed check leaves no record. Returns
        the full name; ValueError for a name that is not `catalog.schema.model`."""
        full = s.parse_name(s.MODEL, model, self.env)
        if self._access is not None:
            self._access.check_within(self.principal, EXECUTE, s.MODEL, full)
        return full

    def check_model_owner(self, model: str) -> str:
        """PermissionDenied (audited: a `checkPermission` record, 403) unless the principal
        may change the registered model `catalog.schema.model`: register a new version of it
        or move one of its aliases. Unity Catalog allows both to the model's owner and the
        metastore admins (with USE CATALOG + USE SCHEMA on its catalog and schema); here whoever
        may make itself the owner may too, so the check is MANAGE on the model, held by its
        owner, a container's owner, a MANAGE grantee (on it or inherited) or a metastore
        admin, and USE CATALOG + USE SCHEMA. A model MLflow registered but the metastore does
        not declare is checked on its schema. Returns the model's full name; ValueError for a
        name that is not `catalog.schema.model`."""
        full = s.parse_name(s.MODEL, model, self.env)
        if self._access is not None:
            self._access.check_within(self.principal, MANAGE, s.MODEL, full)
        return full

    def register_model(self, model: str, comment: str = "") -> None:
        """Before registering a version of the registered model `catalog.schema.model`:
        declare it in the metastore unless it is (needs CREATE MODEL on its schema; the
        principal then owns it; one `createRegisteredModel` record), then `check_model_owner`
        (PermissionDenied, audited). A model declared already is not created again and leaves
        no `createRegisteredModel` record, as in Databricks' `system.access.audit` (MLflow's
        `register_model` looks an existing model up rather than creating it): a record says
        what happened. Declared by another process at the same moment: a 400 record saying
        it already exists."""
        full = s.parse_name(s.MODEL, model, self.env)
        if self._access is None:
            return
        metastore = self._access.metastore
        if not _declared(metastore, full):
            try:
                metastore.create(s.MODEL, full, comment=comment, if_not_exists=False,
                                 as_principal=self.principal)
            except ValueError:
                if not _declared(metastore, full):
                    raise
        self.check_model_owner(full)

    def name(self, text: str | TableName) -> TableName:
        return text if isinstance(text, TableName) else TableName.parse(text, self.env)

    def location(self, text: str | TableName) -> str:
        return self.name(text).location(self.root)

    def exists(self, text: str | TableName) -> bool:
        """Whether the table is on storage. Governed, asked of a table the principal may not
        see (the rule of `describe`), it is PermissionDenied naming BROWSE (audited once, 403
        `getTable`) whether or not the table exists: never True or False, as Unity Catalog
        answers PERMISSION_DENIED to a caller who may not read a table's metadata. Denied,
        not False: a table one may not see is not a missing one, and every caller (a step
        that creates its table when missing, reads it when present, or shows an empty
        answer for an absent log) would act wrongly on False, e.g. `audit verify` would call
        a hidden log deleted; a caller that may see it, or that would read it next, gets
        the same answer it got before, and an invisible one the denial its read would get
        (naming BROWSE rather than SELECT). Ungoverned: the answer."""
        return self.lake.exists(self.location(self._seen(text)))

    def _not_found(self, name: TableName) -> TableNotFound:
        return TableNotFound(f"table {name} does not exist (expected at "
                             f"{self.location(name)})")

    def _existing(self, text: str | TableName) -> tuple[TableName, str]:
        """The table's name and location; TableNotFound (naming both) if it is not on
        storage. Unchecked: a governed call decides the privilege first."""
        name = self.name(text)
        uri = self.location(name)
        if not self.lake.exists(uri):
            raise self._not_found(name)
        return name, uri

    def create_table(
        self, text: str | TableName, schema: pl.Schema, info: TableInfo,
        partition_by: Sequence[str] = (), properties: Mapping[str, str] | None = None,
    ) -> RegisteredTable:
        """Create the table if it is missing and (re)record its metadata; idempotent.
        `partition_by` applies only when the table is created. `properties` (Delta table
        properties) are set at creation; an existing table lacking some of them (created
        before they were declared) gets those in one commit, and one holding them all gets
        no commit.

        Governed, CREATE TABLE on its schema (USE CATALOG + USE SCHEMA; where the schema is
        new, CREATE SCHEMA on the catalog) is checked first, whether or not the table
        exists, as Unity Catalog checks `CREATE TABLE IF NOT EXISTS`: a principal without it
        gets the same PermissionDenied (audited once) for an existing and a missing table.
        Then a creation (or a table on storage not registered) is one `createTable` record,
        metadata other than the recorded one, or properties it lacks, need MODIFY too
        (recorded), and an existing table declared as it is a no-op (no record)."""
        name = self.name(text)
        uri = self.location(name)
        if self._access is not None:
            self._access.check_create(self.principal, str(name))
        exists = self.lake.exists(uri)
        missing = self.lake.missing_properties(uri, properties) if exists and properties else {}
        if self._access is not None:
            previous = self.registry.get(name)
            if not exists or previous is None:
                self._access.record(self.principal, str(name), READ_WRITE, "create_table",
                                    action="createTable", run_id=current_entity().run_id)
            elif previous.info != info or missing:  # other metadata, or properties to set
                self._check(name, MODIFY, "create_table")
        if not exists:
            self.lake.create(
                uri, schema, name=str(name), description=info.comment,
                column_comments=info.column_comments, partition_by=partition_by,
                properties=properties,
            )
        elif missing:
            self.lake.set_properties(uri, missing)
        entry = self.registry.put(name, info)
        if self._access is not None:
            self._access.forget(str(name))
        return entry

    def describe(self, text: str | TableName) -> RegisteredTable:
        name, _ = self._visible(text)
        entry = self.registry.get(name)
        if entry is None:
            raise TableNotFound(f"table {name} exists on storage but is not registered")
        return entry

    def tables(self) -> list[RegisteredTable]:
        """The catalog's tables, without its bookkeeping (`governance.audit_log`,
        `governance.table_lineage`, `governance.column_lineage`): every governed call appends
        to them, so they are the lakehouse's record of its use, not its data; `lakehouse-ml
        audit` and `lakehouse-ml lineage` read them.

        Each table's `location` is where this root keeps it (`location`; a document stores
        none): a copied or moved lakehouse lists its own tables, never the original's.

        Governed, only the tables the principal may see (`Metastore.visible`, the rule of
        `describe`), as Unity Catalog lists tables: a hidden table is left out, with no
        record (a listing filters, it denies nothing)."""
        listed = [entry for entry in self.registry.list(self.env)
                  if entry.name not in self._bookkeeping and self.lake.exists(entry.location)]
        if self._access is None:
            return listed
        seen = self._access.metastore.visible(s.TABLE, [e.name for e in listed],
                                              as_principal=self.principal)
        return [entry for entry in listed if entry.name in seen]

    # reads
    def scan(self, text: str | TableName, version: Version = None) -> pl.LazyFrame:
        """The table (at `version`) as the principal may see it: masks and the row filter
        come first in the plan, so no later predicate sees an unmasked value."""
        name, uri = self._readable(text, "scan", version=version)
        return self._secured(name, self._scan(name, uri, version))

    def _scan(self, name: TableName, uri: str, version: Version) -> pl.LazyFrame:
        """`Lake.scan`, recording the version read as lineage."""
        table = self.lake.table(uri, version)
        self._table_read(name, uri, table.version())
        return pl.scan_delta(table)

    def read(
        self, text: str | TableName, version: Version = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        name, uri = self._readable(text, "read", version=version)
        frame = self._secured(name, self._scan(name, uri, version))
        return (frame.select(columns) if columns else frame).collect()

    def masked_columns(self, text: str | TableName) -> set[str]:
        """The table's columns with a column mask (a read shows the mask's output)."""
        if self._access is None:
            return set()
        name, _ = self._visible(text)
        return set(self._access.table(str(name)).column_masks)

    def check_read(self, text: str | TableName, method: str) -> TableName:
        """The check and audit record of a read of the table's rows kept elsewhere (an
        online store), before they are read; then `secure_rows` them. Checked as a read
        (`_may`): TableNotFound only for a table neither declared nor on storage."""
        name = self.name(text)
        self._check(name, SELECT, method)
        self._table_read(name, self.location(name), None)
        return name

    def check_write(self, text: str | TableName, method: str, *, audited: bool = True
                    ) -> TableName:
        """PermissionDenied (audited) unless the principal holds MODIFY on the table: checked
        before a change made in several steps (an erasure checks every table first).
        `audited=False` leaves no record of an allowed check (a dry run); a denial is audited
        all the same. Checked as a write (`_may`): TableNotFound only for a table neither
        declared nor on storage."""
        name = self.name(text)
        self._may(name, MODIFY)
        if audited:
            self._record(name, MODIFY, method)
        return name

    def secure_rows(self, name: TableName, rows: pl.DataFrame) -> pl.DataFrame:
        """`rows` of the table as the principal may see them (row filter, column masks)."""
        return self._secured(name, rows.lazy()).collect()

    def version(self, text: str | TableName) -> int:
        return self.lake.version(self._visible(text)[1])

    def history(self, text: str | TableName, limit: int | None = None) -> list[dict[str, Any]]:
        return self.lake.history(self._visible(text)[1], limit)

    def partition_range(self, text: str | TableName, column: str) -> tuple[Any, Any] | None:
        """(least, greatest) value of the table's partition column `column` (`Lake.
        partition_range`: from its log), or None without rows; needs SELECT, as a read."""
        return self.lake.partition_range(
            self._readable(text, "partition_range", column=column)[1], column)

    def partitioned_by(self, text: str | TableName) -> list[str]:
        """The table's partition columns (its metadata)."""
        return self.lake.partition_columns(self._visible(text)[1])

    def changes(
        self, text: str | TableName, since: int, columns: Sequence[str]
    ) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """`columns` of the rows the commits after version `since` added and removed (the
        rows of a file an update or delete rewrote count as both; a compaction's, as
        neither: see `Lake.changed_files`), and the latest version. Reads only those files:
        the cost follows the change, not the table's history."""
        name, uri = self._readable(text, "changes", since=since)
        added, removed, latest = self.lake.changed_files(uri, since)
        self._table_read(name, uri, latest)
        schema = self.lake.schema(uri)
        empty = pl.DataFrame(schema={c: schema[c] for c in columns})
        # a filter or mask may need other columns than those asked for
        needed = list(schema) if self._access is not None and (self._access.has_policy(
            str(name)) or owner_column(name) is not None) else list(columns)

        def rows(files: list[str]) -> pl.DataFrame:
            if not files:
                return empty
            frame = self._secured(name, self.lake.read_files(files, needed).lazy())
            return frame.select(columns).collect()

        return rows(added), rows(removed), latest

    def schema(self, text: str | TableName) -> pl.Schema:
        return self.lake.schema(self._visible(text)[1])

    # writes
    def append(self, text: str | TableName, df: pl.DataFrame, *, evolve: bool = False) -> int:
        name, uri, _ = self._rows_writable(text, "append", RowWrite(df))
        return self._table_written(
            name, uri, self.lake.append(uri, df, label=str(name), evolve=evolve), df.columns)

    def appender(self, text: str | TableName) -> Callable[[pl.DataFrame], int]:
        """`append` for a frequent writer (see `Lake.appender`)."""
        name, uri = self._writable(text, "appender")
        append = self.lake.appender(uri, label=str(name))

        def written(df: pl.DataFrame) -> int:
            if self._access is not None:
                check_write(self._access, self.lake, self.principal, name, uri, RowWrite(df))
            return self._table_written(name, uri, append(df), df.columns)

        return written

    def overwrite(
        self, text: str | TableName, df: pl.DataFrame, *, predicate: str | None = None,
        evolve: bool = False, commit_metadata: Mapping[str, Any] | None = None,
        row_group_rows: int | None = None,
    ) -> int:
        """`commit_metadata`: entries of the commit's `commitInfo` (`Lake.written_by`);
        `row_group_rows`: see `Lake.overwrite`."""
        name, uri, owners = self._rows_writable(
            text, "overwrite", RowWrite(df, replaces=True, where=predicate))
        return self._table_written(name, uri, self.lake.overwrite(
            uri, df, label=str(name), predicate=self._narrowed(name, owners, predicate),
            evolve=evolve, commit_metadata=commit_metadata, row_group_rows=row_group_rows),
            df.columns)

    def merge(
        self, text: str | TableName, df: pl.DataFrame, *, keys: Sequence[str],
        update_when: str | None = None, evolve: bool = False, target_filter: str | None = None,
    ) -> dict[str, Any]:
        name, uri, owners = self._rows_writable(text, "merge", RowWrite(df, keys=keys))
        metrics = self.lake.merge(
            uri, df, label=str(name), keys=keys, update_when=update_when, evolve=evolve,
            target_filter=self._narrowed(name, owners, target_filter, "t"),
        )
        self._table_written(name, uri, self.lake.version(uri), df.columns)
        return metrics

    def delete(self, text: str | TableName, predicate: str) -> dict[str, Any]:
        name, uri, owners = self._rows_writable(
            text, "delete", RowWrite(pl.DataFrame(), replaces=True, where=predicate))
        metrics = self.lake.delete(uri, self._narrowed(name, owners, predicate) or predicate,
                                   label=str(name))
        self._table_written(name, uri, self.lake.version(uri))
        return metrics

    def discard(self, text: str | TableName) -> None:
        """Delete the table's files, its log included (`Lake.drop`), and keep its
        registration: for a table kept only as a cache (a feature builder's kept state) that
        cannot be read or written anymore, e.g. a corrupt log; the next `create_table` of it
        creates it anew. Governed: MODIFY (audited as a write)."""
        self.lake.drop(self._writable(text, "discard")[1])

    def optimize(self, text: str | TableName, zorder_by: Sequence[str] = ()) -> dict[str, Any]:
        return self.lake.optimize(self._writable(text, "optimize")[1], zorder_by)

    def vacuum(self, text: str | TableName, retention_hours: int, *,
               enforce_retention_duration: bool = True) -> list[str]:
        return self.lake.vacuum(self._writable(text, "vacuum")[1], retention_hours,
                                enforce_retention_duration=enforce_retention_duration)
