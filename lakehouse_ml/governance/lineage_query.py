"""Lineage questions: what a table, column, model (version) or landed file comes from
(upstream) or feeds (downstream), over `governance.table_lineage` / `column_lineage`.

Versions are followed: upstream of a table at version v are the writes that produced
versions <= v and the versions they read; downstream of it, the reads of versions >= v. So
the landed files a model version learned from are those behind the versions of every table
its training set was built from, not every file ever landed. A column's upstream follows the
column rows, then (where none lead further) the files its table was ingested from; its
downstream follows the column rows, then the models trained on its table and what they scored.

Only data flow is followed: a row is recorded for every read of a step, but one into a table
the domains declare (its Dagster `deps`, see `lineage_columns.domain_inputs`) from a table not
among its declared inputs is a control read (a progress mark, what has landed) and is not
followed, nor is any row of the pipeline's own bookkeeping (tables tagged `layer: pipeline`).

Governed as Unity Catalog's lineage: the reader needs BROWSE (on the catalog) or SELECT /
EXECUTE on what it asks about (else PermissionDenied, audited, decided before anything
is looked up: the same denial whether the name, alias or version exists or not); every
other securable in the answer it may not see is redacted (type kept, name hidden); a landed
file is shown when a table it was ingested into is. Each question is one audit record
(`getTableLineage`, `getColumnLineage`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog, TableName
from lakehouse_ml.catalog.names import InvalidTableName
from lakehouse_ml.governance import privileges as pv
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.lineage import (
    COLUMN_LINEAGE,
    MODEL,
    PATH,
    TABLE,
    TABLE_LINEAGE,
    flush_lineage,
)
from lakehouse_ml.ml.model_ref import InvalidModelRef, ModelRef, UnknownModelRef
from lakehouse_ml.ml.registry import tracking_client

UPSTREAM, DOWNSTREAM = "upstream", "downstream"
REDACTED = "<redacted>"
MAX_NAME = 1024
_SEE = {pv.SELECT, pv.EXECUTE, pv.BROWSE}


class UnknownLineageName(LookupError):
    """No table, column, model or landed file of that name has lineage or exists."""


@dataclass(frozen=True, order=True)
class Vertex:
    """A node of an answer: `type` TABLE, MODEL or PATH, `name` (full name, or a file's
    manifest path; `REDACTED` when the reader may not see it), `column` for a column."""

    type: str
    name: str
    column: str | None = None

    @property
    def redacted(self) -> bool:
        return self.name == REDACTED

    def label(self) -> str:
        return self.name + (f".{self.column}" if self.column else "")


@dataclass(frozen=True)
class Link:
    """`source` → `target` as recorded: the versions read and written (sorted; empty when
    unknown), the runs (`entity_run_id`) that recorded it, its distance from the root."""

    source: Vertex
    target: Vertex
    source_versions: tuple[int, ...]
    target_versions: tuple[int, ...]
    runs: tuple[str, ...]
    depth: int


@dataclass
class LineageAnswer:
    """The answer to one question: the `root` (at `version`, None: any), the `direction`,
    and its `links`, nearest first."""

    root: Vertex
    version: int | None
    direction: str
    links: list[Link] = field(default_factory=list)

    def title(self) -> str:
        """The root's label and version, e.g. `dev.ml.churn_model version 3`."""
        at = f" version {self.version}" if self.version is not None else ""
        return f"{self.root.label()}{at}"

    def vertices(self) -> list[tuple[Vertex, int]]:
        """Every vertex but the root with its distance, nearest first."""
        far = self.direction == UPSTREAM
        seen: dict[Vertex, int] = {}
        for link in self.links:
            vertex = link.source if far else link.target
            seen.setdefault(vertex, link.depth)
        seen.pop(self.root, None)
        return sorted(seen.items(), key=lambda item: (item[1], item[0]))

    def to_json(self) -> dict[str, Any]:
        def vertex(v: Vertex) -> dict[str, Any]:
            return {"type": v.type, "name": None if v.redacted else v.name,
                    "column": v.column, "redacted": v.redacted}

        return {"root": vertex(self.root), "version": self.version,
                "direction": self.direction,
                "nodes": [{**vertex(v), "depth": d} for v, d in self.vertices()],
                "edges": [{"source": vertex(k.source), "target": vertex(k.target),
                           "source_versions": list(k.source_versions),
                           "target_versions": list(k.target_versions),
                           "runs": list(k.runs), "depth": k.depth} for k in self.links]}


Key = tuple[str, str, str | None]
"""(type, name or path, column) of a recorded node."""


def _key(row: dict[str, Any], side: str, column: bool) -> Key | None:
    kind = row[f"{side}_type"]
    if kind is None:
        return None
    name = row[f"{side}_path"] if kind == PATH else row[f"{side}_table_full_name"]
    return kind, name, row[f"{side}_column_name"] if column else None


class _Graph:
    """The recorded rows indexed by node, both ways."""

    def __init__(self, tables: pl.DataFrame, columns: pl.DataFrame,
                 follows: Callable[[Key, Key], bool]) -> None:
        self.up: dict[Key, list[dict[str, Any]]] = {}
        self.down: dict[Key, list[dict[str, Any]]] = {}
        self.known: set[Key] = set()
        for frame, is_column in ((tables, False), (columns, True)):
            for row in frame.iter_rows(named=True):
                source, target = _key(row, "source", is_column), _key(row, "target", is_column)
                self.known |= {k for k in (source, target) if k is not None}
                if source is None or target is None or source[:2] == target[:2] \
                        or not follows(source, target):
                    continue
                row["_source"], row["_target"] = source, target
                self.up.setdefault(target, []).append(row)
                self.down.setdefault(source, []).append(row)

    def neighbours(self, key: Key, direction: str) -> list[dict[str, Any]]:
        """Rows leading on from `key` (see the module's docstring for columns)."""
        index = self.up if direction == UPSTREAM else self.down
        rows = list(index.get(key, ()))
        kind, name, column = key
        if column is not None:
            table = index.get((kind, name, None), ())
            if direction == DOWNSTREAM:
                rows += [r for r in table if r["_target"][0] == MODEL]
            elif not rows:
                rows += [r for r in table if r["_source"][0] == PATH]
        return rows


def _within(row: dict[str, Any], direction: str, bound: int | None) -> bool:
    if bound is None:
        return True
    version = row["target_table_version" if direction == UPSTREAM else "source_table_version"]
    return version is None or (version <= bound if direction == UPSTREAM else version >= bound)


def _walk(graph: _Graph, start: Key, version: int | None, direction: str,
          depth: int | None) -> list[tuple[dict[str, Any], int]]:
    """(row, distance) of every row reached from `start` breadth-first, versions followed."""
    far_side = "_source" if direction == UPSTREAM else "_target"
    far_version = "source_table_version" if direction == UPSTREAM else "target_table_version"
    best: dict[Key, int | None] = {start: version}
    queue = deque([(start, version, 0)])
    reached: list[tuple[dict[str, Any], int]] = []
    while queue:
        key, bound, distance = queue.popleft()
        if depth is not None and distance >= depth:
            continue
        for row in graph.neighbours(key, direction):
            if not _within(row, direction, bound):
                continue
            reached.append((row, distance + 1))
            nxt, nxt_bound = row[far_side], row[far_version]
            if nxt in best and not _widens(best[nxt], nxt_bound, direction):
                continue
            best[nxt] = _widest(best.get(nxt, nxt_bound), nxt_bound, direction)
            queue.append((nxt, best[nxt], distance + 1))
    return reached


def _widens(old: int | None, new: int | None, direction: str) -> bool:
    if old is None:
        return False
    if new is None:
        return True
    return new > old if direction == UPSTREAM else new < old


def _widest(old: int | None, new: int | None, direction: str) -> int | None:
    if old is None or new is None:
        return None
    return max(old, new) if direction == UPSTREAM else min(old, new)


class _Visibility:
    """What the reader may see: BROWSE on the catalog, or SELECT/EXECUTE on the securable
    (inherited too); everything when the catalog is ungoverned."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.ns = None
        if catalog._access is not None:
            self.ns = catalog._access.metastore.namespace()
        self._seen: dict[tuple[str, str], bool] = {}

    def securable(self, kind: str, name: str) -> bool:
        """Whether the reader may see the table (`kind` TABLE) or model (MODEL) `name`."""
        return self._remembered(s.TABLE if kind == TABLE else s.MODEL, name, _SEE)

    def every_file(self) -> bool:
        """Whether the reader may see every landed file: BROWSE or SELECT on the catalog
        (a metastore admin holds both), so on every table a file could be ingested into."""
        return self._remembered(s.CATALOG, self.catalog.env, {pv.BROWSE, pv.SELECT})

    def _remembered(self, kind: str, name: str, wanted: set[str]) -> bool:
        if self.ns is None:
            return True
        if (kind, name) not in self._seen:
            self._seen[(kind, name)] = self._decide(kind, name, wanted)
        return self._seen[(kind, name)]

    def _decide(self, kind: str, name: str, wanted: set[str]) -> bool:
        """From the grants and owners along `kind name`'s chain (a level not declared is
        passed over), so a missing securable is decided as an existing one would be."""
        try:
            for level_kind, level in s.parents(kind, name):
                found = self.ns.find(level_kind, level)
                if found is None:
                    continue
                held = {p.privilege for p in pv.effective_privileges(
                    self.ns, self.catalog.principal, found)}
                if held & wanted:
                    return True
        except Exception:  # an unknown principal or securable: sees nothing
            return False
        return False


def _data_flow(catalog: Catalog) -> Callable[[Key, Key], bool]:
    """Whether a recorded row is followed (see the module's docstring)."""
    from lakehouse_ml.governance.lineage_columns import declared_inputs

    inputs = declared_inputs(catalog.env)
    control = {t.name for t in catalog.registry.list(catalog.env)
               if t.info.tags.get("layer") == "pipeline"}

    def follows(source: Key, target: Key) -> bool:
        if source[1] in control or target[1] in control:
            return False
        declared = inputs.get(target[1]) if target[0] == TABLE else None
        return declared is None or source[0] != TABLE or source[1] in declared

    return follows


def _load(catalog: Catalog, column: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    flush_lineage(catalog.root, catalog.env)
    book = Catalog(catalog.root, catalog.env, governed=False)
    frames = []
    for table, wanted in ((TABLE_LINEAGE, True), (COLUMN_LINEAGE, column)):
        frames.append(book.read(table) if wanted and book.exists(table) else pl.DataFrame())
    return frames[0], frames[1]


def _asked(catalog: Catalog, graph: _Graph, name: str) -> tuple[Key, ModelRef | None]:
    """What `name` is asked as, from its form and the domains' code alone, before the reader
    is authorized: a landed file's path with lineage (PATH); else
    `<model or table>[/<version>|@<alias>]` (the reference parsed; MODEL for an alias or a
    declared model's name, else TABLE); anything else is asked as a landed file (PATH, no
    reference), unknown or not (`_resolved` says, once the reader is authorized). No registry
    or storage is asked here, so an unauthorized reader is denied alike whether the name, its
    alias or its version exists or not."""
    if (PATH, name, None) in graph.known:
        return (PATH, name, None), None
    try:
        ref = ModelRef.parse(name, lowest=0)
        full = str(TableName.parse(ref.name, catalog.env))
    except (InvalidModelRef, InvalidTableName):
        return (PATH, name, None), None
    declared = ref.alias is not None or full in _declared_models(catalog.env)
    return (MODEL if declared else TABLE, full, None), ref


def _declared_models(env: str) -> set[str]:
    """Full names of the models the domains declare (code, not data)."""
    from lakehouse_ml.domains import declared_models

    return {spec.registered_name(env) for spec in declared_models()}


def _resolved(graph: _Graph, asked: Key, ref: ModelRef | None, name: str,
              client: MlflowClient | None) -> tuple[Key, int | None]:
    """The node `asked` stands for and its version (None: any), once the reader is
    authorized: UnknownLineageName for a name that is no reference and no landed file with
    lineage, and for an alias or model the registry does not hold (an alias resolved now);
    a resolved alias and a model recorded under the name are the model, any other name a
    table, known or not (`_known` says)."""
    kind, full, _ = asked
    if ref is None:
        if asked in graph.known:
            return asked, None
        raise UnknownLineageName(f"lineage: {name[:80]!r} is not a table, a model (schema.name"
                                 "[/version|@alias]) or a landed file with lineage")
    version = ref.version
    if ref.alias is not None:
        try:
            version = ref.version_in(client or tracking_client(), full)
        except UnknownModelRef as error:
            raise UnknownLineageName(f"lineage: {error}") from None
    if ref.alias is not None or (MODEL, full, None) in graph.known:
        return (MODEL, full, None), version
    return (TABLE, full, None), version


def _known(catalog: Catalog, graph: _Graph, key: Key, name: str, column: str | None) -> Key:
    """`key` with `column`, once the reader is authorized: UnknownLineageName for a table
    with no lineage that does not exist (`name` as asked) or a column it has not, and for a
    column of a model or file. The lookups are the engine's (an ungoverned catalog): the
    reader was authorized on lineage's rule (`_authorize`), and only then is told what
    exists, so an unauthorized one learns neither a table's existence nor its columns."""
    kind, full, _ = key
    book = Catalog(catalog.root, catalog.env, governed=False)
    exists = kind == TABLE and book.exists(full)
    if kind == TABLE and key not in graph.known and not exists:
        raise UnknownLineageName(f"lineage: no table, model or landed file named {name!r} "
                                 "has lineage in this lakehouse")
    if column is None:
        return key
    if kind != TABLE:
        raise UnknownLineageName(f"lineage: --column needs a table; {full!r} is a "
                                 f"{kind.lower()}")
    columns = set(book.schema(full)) if exists else set()
    if (kind, full, column) not in graph.known and column not in columns:
        raise UnknownLineageName(f"lineage: table {full} has no column {column!r}")
    return kind, full, column


def lineage(catalog: Catalog, name: str, direction: str, *, column: str | None = None,
            depth: int | None = None, client: MlflowClient | None = None) -> LineageAnswer:
    """What `name` comes from (`UPSTREAM`) or feeds (`DOWNSTREAM`), as `catalog`'s principal
    may see it. `name`: a table (`schema.table` or full, `/<version>` for one version), a
    model (`schema.model` or full, `/<version>` or `@<alias>`, `models:/` allowed), or a
    landed file's manifest path; `column`: a column of the table; `depth`: at most this many
    hops (None: all); `client`: the MLflow registry an alias is resolved in (None:
    `tracking_client()`). Raises UnknownLineageName naming what is unknown (an alias or
    model the registry does not hold too), ValueError for a bad direction or depth,
    PermissionDenied (audited) when the principal may not see `name`, decided first, from
    the grants alone (`_authorize`), before the registry or storage is asked anything: the
    same denial for an existing and a missing table, model, alias, version or landed file, a
    column it has and one it has not."""
    if direction not in (UPSTREAM, DOWNSTREAM):
        raise ValueError(f"lineage: direction must be {UPSTREAM!r} or {DOWNSTREAM!r}, got "
                         f"{direction!r}")
    if depth is not None and depth < 1:
        raise ValueError(f"lineage: depth must be at least 1, got {depth}")
    if len(name) > MAX_NAME:
        raise ValueError(f"lineage: name longer than {MAX_NAME} characters")
    graph = _Graph(*_load(catalog, column is not None), _data_flow(catalog))
    asked, ref = _asked(catalog, graph, name)
    visibility = _Visibility(catalog)
    _authorize(catalog, visibility, graph, asked, column)
    start, version = _resolved(graph, asked, ref, name, client)
    start = _known(catalog, graph, start, name, column)
    _allowed(catalog, start, column)  # once it is known to be about something
    reached = _walk(graph, start, version, direction, depth)
    return LineageAnswer(_vertex(start, visibility, graph), version, direction,
                         _links(reached, visibility, graph))


def _question(start: Key, column: str | None) -> tuple[str, dict[str, str]]:
    """The audit action and parameters of a question about `start` (and `column`)."""
    kind, name, _ = start
    action = "getColumnLineage" if column else "getTableLineage"
    return action, {"securable": name, "type": kind, **({"column": column} if column else {})}


def _authorize(catalog: Catalog, visibility: _Visibility, graph: _Graph, asked: Key,
               column: str | None) -> None:
    """PermissionDenied (audited, 403) unless the reader may see the lineage of what it
    `asked` (`_asked`): a table or model by name (either, whatever the name's form: grants on
    a model and a table of that name are the reader's own to know), a landed file with
    lineage when it may see a table the file was ingested into, any other file name when it
    may see every landed file. Decided from the grants alone: the denial names the kind the
    form tells, the same for a name, alias or version that exists and one that does not."""
    from lakehouse_ml.governance.metastore import audit

    kind, name, _ = asked
    if kind == PATH:
        seen = _visible(asked, visibility, graph) if asked in graph.known \
            else visibility.every_file()
    else:
        seen = visibility.securable(TABLE, name) or visibility.securable(MODEL, name)
    if seen:
        return
    privilege = pv.EXECUTE if kind == MODEL else pv.SELECT
    denied = pv.PermissionDenied(catalog.principal, f"BROWSE or {privilege}",
                                 f"{kind} {name}", "needed to see its lineage")
    audit(catalog.root, catalog.env, catalog.principal, *_question(asked, column), denied)
    raise denied


def _allowed(catalog: Catalog, start: Key, column: str | None) -> None:
    """The allowed question's record (none for an ungoverned catalog)."""
    if catalog._access is not None:
        from lakehouse_ml.governance.metastore import audit

        audit(catalog.root, catalog.env, catalog.principal, *_question(start, column))


def _visible(key: Key, visibility: _Visibility, graph: _Graph) -> bool:
    kind, name, _ = key
    if kind != PATH:
        return visibility.securable(kind, name)
    return any(r["_target"][0] == TABLE and visibility.securable(TABLE, r["_target"][1])
               for r in graph.down.get((kind, name, None), ()))


def _vertex(key: Key, visibility: _Visibility, graph: _Graph) -> Vertex:
    kind, name, column = key
    if _visible(key, visibility, graph):
        return Vertex(kind, name, column)
    return Vertex(kind, REDACTED, None)


def _links(reached: Iterable[tuple[dict[str, Any], int]], visibility: _Visibility,
           graph: _Graph) -> list[Link]:
    grouped: dict[tuple[Vertex, Vertex], list[Any]] = {}
    for row, distance in reached:
        pair = (_vertex(row["_source"], visibility, graph),
                _vertex(row["_target"], visibility, graph))
        found = grouped.setdefault(pair, [set(), set(), set(), distance])
        for index, value in enumerate((row["source_table_version"],
                                       row["target_table_version"], row["entity_run_id"])):
            if value is not None:
                found[index].add(value)
        found[3] = min(found[3], distance)
    return sorted((Link(a, b, tuple(sorted(sv)), tuple(sorted(tv)), tuple(sorted(runs)), d)
                   for (a, b), (sv, tv, runs, d) in grouped.items()),
                  key=lambda k: (k.depth, k.source, k.target))
