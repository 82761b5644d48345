"""Row filters and column masks, evaluated as Databricks evaluates them, on polars' SQL engine.

A table's row filter is `function(column, ...)` (ALTER TABLE ... SET ROW FILTER f ON (...)):
a row is kept only where it returns TRUE (FALSE or NULL drop it). A column mask is
`function(column, *using)` (ALTER COLUMN c SET MASK f [USING COLUMNS (...)]): the masked
column is the first argument and the column keeps its type (the result is cast to it). Other
arguments are columns or constants (`ON (tenant_id, 't-01')`, `ON ()`), cast to the
parameters' types. Both see the table's raw values (a mask never sees another mask's output);
the filter is applied first, then the masks, before anything the caller adds.

Each function body (Databricks SQL, `CREATE FUNCTION ... RETURN expr`) is parsed with
sqlglot's Databricks dialect; `current_user()`/`session_user()` become the reading
principal's name, `is_account_group_member(g)`/`is_member(g)` its (nested) group membership (a
metastore admin is in `admins`), as literals (constant per read); the parameters become the
table's columns; constants are folded (sqlglot's simplify) and the result is written as SQL
for polars (`pl.sql_expr`), so a read pays one vectorized polars expression per policy, or
nothing where the folded filter is TRUE or the folded mask is the column itself (a member of
the groups they let through).

Known difference: polars' ROUND rounds halves to even, Databricks' `round` away from zero
(`round(12.5)` is 12 here, 13 on Databricks).

Fail closed: a body polars cannot evaluate (a subquery, an aggregate, a window, a function
polars' SQL lacks, a column that is no parameter), a missing function or column, or an
argument count that does not match raises `PolicyFunctionError` (a PermissionError naming the
function and the construct) instead of returning the rows; an error while the rows are
computed (e.g. a strict cast of a bad value) is raised by polars at collect time. Never is
the clear value returned in place of a mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import polars as pl
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.simplify import simplify

from lakehouse_ml.governance import principals as p
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.metastore import Metastore

MEMBERSHIP = frozenset({"is_account_group_member", "is_member"})
ADMINS = "admins"
_POLARS_SQL = "duckdb"  # the sqlglot dialect whose output polars' SQL reads best
_UNSUPPORTED: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.Query, "a subquery"), (exp.Subquery, "a subquery"),
    (exp.Window, "a window function"), (exp.AggFunc, "an aggregate function"),
    (exp.Lambda, "a lambda function"), (exp.Placeholder, "a parameter marker"),
)


class PolicyFunctionError(PermissionError):
    """A row filter or column mask that cannot be evaluated: the read is denied. The message
    names the function, the construct and, at read time, the table and principal."""


@dataclass(frozen=True)
class Function:
    """A SQL function as the metastore stores it: `parameters` (name, Databricks type) in
    order, `returns` its declared Databricks type ('' if not declared), `body` its RETURN
    expression in Databricks SQL."""

    name: str
    parameters: tuple[tuple[str, str], ...]
    returns: str
    body: str

    @classmethod
    def from_definition(cls, name: str, definition: Mapping[str, Any]) -> Function:
        """PolicyFunctionError naming the function if `definition` is malformed."""
        try:
            return cls(name, tuple((str(x["name"]), str(x["type"]))
                                   for x in definition.get("parameters", ())),
                       str(definition.get("returns", "")), str(definition["body"]))
        except (KeyError, TypeError, AttributeError) as error:
            raise PolicyFunctionError(f"function {name}: malformed definition "
                                      f"({type(error).__name__}: {error})") from error


def secure(frame: pl.LazyFrame, table: str, principal: str, metastore: Metastore
           ) -> pl.LazyFrame:
    """`frame` (the rows of `table`, any of its columns) with the table's row filter and
    column masks applied as seen by `principal`: filter first, then masks, before any other
    predicate the caller adds. A table without filter or masks returns `frame` itself (one
    stat and one lookup in the cached governance state, `Metastore.latest`). Masks of columns
    not in `frame` are skipped; a filter or mask argument column missing from `frame` denies
    the read.

    Raises PolicyFunctionError (a PermissionError naming table, principal, function and
    construct) when a filter or mask cannot be evaluated; ValueError for a malformed name."""
    state = metastore.latest()
    full = s.parse_name(s.TABLE, str(table), metastore.env)
    entry = state["securables"].get(s.key(s.TABLE, full))
    if not entry or not (entry.get("row_filter") or entry.get("column_masks")):
        return frame
    groups = reader_groups(state, principal)
    schema = frame.collect_schema()
    try:
        if entry.get("row_filter"):
            spec = entry["row_filter"]
            fn = _function(state, spec["function"])
            args = _arguments(spec["columns"], fn)
            keep = compile_filter(fn, args, principal, groups, _columns(schema, args, fn))
            frame = frame if keep is None else frame.filter(keep)
        masks = []
        for column, spec in sorted((entry.get("column_masks") or {}).items()):
            if column not in schema:
                continue
            fn = _function(state, spec["function"])
            args = (column, *_arguments(spec["columns"], fn))
            mask = compile_mask(fn, args, principal, groups, _columns(schema, args, fn))
            masks += [] if mask is None else [mask.alias(column)]
    except PolicyFunctionError as error:
        raise PolicyFunctionError(f"cannot read table {full} as {principal!r}: {error}"
                                  ) from error
    return frame.with_columns(masks) if masks else frame


def reader_groups(state: Mapping[str, Any], principal: str) -> frozenset[str]:
    """The groups `principal` is a member of, directly or nested; a metastore admin is also
    in `admins` (as Databricks' workspace admins are in its built-in `admins` group)."""
    groups = p.groups_of(state, principal)
    return frozenset(groups | {ADMINS} if principal in state["admins"] else groups)


def _function(state: Mapping[str, Any], name: str) -> Function:
    stored = state["securables"].get(s.key(s.FUNCTION, name)) or {}
    if not stored.get("definition"):
        raise PolicyFunctionError(f"function {name} does not exist or has no SQL body")
    return Function.from_definition(name, stored["definition"])


@dataclass(frozen=True)
class Constant:
    """A constant argument (`USING COLUMNS ('x', 5)`), as Databricks SQL."""

    sql: str


Arg = str | Constant
"""A filter's or mask's argument: a column name or a constant."""


def _arguments(stored: Sequence[Any], fn: Function) -> tuple[Arg, ...]:
    """The stored arguments (column names, `{"literal": sql}`) as compile_* take them."""
    args: list[Arg] = []
    for arg in stored:
        if isinstance(arg, Mapping) and set(arg) == {"literal"} and isinstance(
                arg["literal"], str):
            args.append(Constant(arg["literal"]))
        elif isinstance(arg, str):
            args.append(arg)
        else:
            raise PolicyFunctionError(f"function {fn.name}: malformed argument {arg!r}")
    return tuple(args)


def check_arguments(function: str, stored: Sequence[Any]) -> None:
    """PolicyFunctionError naming `function` and the argument unless each of `stored` (as
    `Metastore.set_row_filter`/`set_column_mask` store them) is a column name or
    `{"literal": sql}` whose Databricks SQL is one constant: what every read will evaluate."""
    fn = Function(function, (), "", "")
    for arg in _arguments(stored, fn):
        if isinstance(arg, Constant):
            _constant(fn, arg)


def _shown(args: Sequence[Arg]) -> str:
    return ", ".join(a.sql if isinstance(a, Constant) else a for a in args)


def _columns(schema: pl.Schema, args: Sequence[Arg], fn: Function
             ) -> tuple[tuple[str, pl.DataType], ...]:
    names = [a for a in args if isinstance(a, str)]
    missing = [n for n in names if n not in schema]
    if missing:
        raise PolicyFunctionError(f"function {fn.name}: argument column(s) "
                                  f"{', '.join(missing)} not in the rows read")
    return tuple((n, schema[n]) for n in dict.fromkeys(names))


@lru_cache(maxsize=1024)
def compile_filter(fn: Function, args: tuple[Arg, ...], principal: str,
                   groups: frozenset[str], schema: tuple[tuple[str, pl.DataType], ...]
                   ) -> pl.Expr | None:
    """The polars predicate of row filter `fn` called with `args` for `principal`
    (member of `groups`), over columns of `schema`; None if it is TRUE for every row (e.g.
    `is_member('all-tenants') OR ...` for a member). PolicyFunctionError if its result is not
    BOOLEAN or it cannot be evaluated."""
    if fn.returns and sql_dtype(fn.returns, fn) != pl.Boolean:
        raise PolicyFunctionError(f"row filter function {fn.name} returns {fn.returns}, "
                                  "not BOOLEAN")
    tree, expr = _compile(fn, args, principal, groups, schema)
    result = _result_dtype(fn, expr, schema)
    if result not in (pl.Boolean, pl.Null):
        raise PolicyFunctionError(f"row filter function {fn.name} returns {result}, "
                                  "not BOOLEAN")
    return None if tree == exp.true() else expr


@lru_cache(maxsize=1024)
def compile_mask(fn: Function, args: tuple[Arg, ...], principal: str, groups: frozenset[str],
                 schema: tuple[tuple[str, pl.DataType], ...]) -> pl.Expr | None:
    """The polars expression of column mask `fn` on column `args[0]` (further arguments:
    `args[1:]`) for `principal`, cast to the masked column's type (strictly: a value that
    does not fit fails the read); None if it returns the column as it is (e.g. `CASE WHEN
    is_member('pii-readers') THEN email ELSE ... END` for a member)."""
    tree, expr = _compile(fn, args, principal, groups, schema)
    column = str(args[0])  # the masked column
    target = dict(schema)[column]
    if tree == exp.column(column, quoted=True) and (
            not fn.returns or sql_dtype(fn.returns, fn) == target):
        return None
    if _result_dtype(fn, expr, schema) != target:
        expr = expr.cast(target)
        try:
            _result_dtype(fn, expr, schema)
        except PolicyFunctionError as error:
            raise PolicyFunctionError(f"function {fn.name}: its result does not fit column "
                                      f"{column} ({target}): {error}") from error
    return expr


def check_function(fn: Function) -> None:
    """Check at CREATE FUNCTION time that polars' SQL can evaluate `fn` (called with its
    parameters' types) for every reader its body tells apart (`_readers`); PolicyFunctionError
    naming the construct otherwise. The body is compiled per reader with its identity folded
    in (`_compile`), so a branch only a group's members or one user reach is checked for them,
    not left to fail their reads later."""
    for _, kind in fn.parameters:
        sql_dtype(kind, fn)
    schema = tuple((f"_arg{i}", sql_dtype(kind, fn)) for i, (_, kind) in
                   enumerate(fn.parameters))
    for principal, groups in _readers(fn):
        _result_dtype(fn, _compile(fn, tuple(n for n, _ in schema), principal, groups,
                                   schema)[1], schema)


def _readers(fn: Function) -> list[tuple[str, frozenset[str]]]:
    """(principal, groups) of readers that reach each branch keyed by one name: the reader
    named nothing and in no group; for each string constant of the body, a reader of that
    name in that one group; a reader in every such group. A body that cannot be parsed: the
    first (`_compile` names the error)."""
    try:
        tree = sqlglot.parse_one(fn.body, read="databricks")
    except SqlglotError:
        return [("", frozenset())]
    names = sorted({node.name for node in tree.find_all(exp.Literal) if node.is_string})
    return [("", frozenset()), *((name, frozenset({name})) for name in names),
            ("", frozenset(names))]


@lru_cache(maxsize=256)
def sql_dtype(kind: str, fn: Function) -> pl.DataType:
    """The polars type of Databricks type `kind` (as polars' SQL casts to it)."""
    try:
        written = exp.DataType.build(kind, dialect="databricks").sql(_POLARS_SQL)
        return pl.select(pl.sql_expr(f"CAST(NULL AS {written})")).dtypes[0]
    except (SqlglotError, pl.exceptions.PolarsError, ValueError) as error:
        raise PolicyFunctionError(f"function {fn.name}: type {kind} is not supported: "
                                  f"{_one_line(error)}") from error


def _compile(fn: Function, args: tuple[Arg, ...], principal: str, groups: frozenset[str],
             schema: tuple[tuple[str, pl.DataType], ...]) -> tuple[exp.Expression, pl.Expr]:
    """The body with the reader's identity and the columns bound, constants folded (sqlglot's
    simplify), and its polars expression (cast to the declared return type)."""
    if len(args) != len(fn.parameters):
        raise PolicyFunctionError(f"function {fn.name} takes {len(fn.parameters)} "
                                  f"argument(s), called with {len(args)} ({_shown(args)})")
    try:
        tree = sqlglot.parse_one(fn.body, read="databricks")
    except SqlglotError as error:
        raise PolicyFunctionError(f"function {fn.name}: cannot parse its body: "
                                  f"{_one_line(error)}") from error
    for node in tree.walk():
        for kind, what in _UNSUPPORTED:
            if isinstance(node, kind):
                raise PolicyFunctionError(f"function {fn.name}: {what} ({node.sql('databricks')})"
                                          " cannot be evaluated in a row filter or column mask")
    dtypes = dict(schema)
    bound = {}
    for (param, kind), arg in zip(fn.parameters, args, strict=True):
        to = exp.DataType.build(kind, dialect="databricks")
        if isinstance(arg, Constant):
            bound[param.lower()] = exp.Cast(this=_constant(fn, arg), to=to)
            continue
        ref = exp.column(arg, quoted=True)
        bound[param.lower()] = ref if dtypes[arg] == sql_dtype(kind, fn) else exp.Cast(
            this=ref, to=to)

    def bind(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            if node.table or node.name.lower() not in bound:
                raise PolicyFunctionError(f"function {fn.name}: {node.sql('databricks')} is "
                                          "not one of its parameters")
            return bound[node.name.lower()].copy()
        if isinstance(node, (exp.CurrentUser, exp.SessionUser)):
            return exp.Literal.string(principal)
        return node

    def membership(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.lower() in MEMBERSHIP:
            return _membership(fn, node, groups)
        return node

    # two passes: a replaced node's children are not visited again (the group argument of
    # is_member(...) must be bound first)
    tree = simplify(tree.transform(bind).transform(membership), dialect="databricks")
    try:
        expr = pl.sql_expr(tree.sql(_POLARS_SQL))
    except (pl.exceptions.PolarsError, ValueError) as error:
        raise PolicyFunctionError(f"function {fn.name}: polars' SQL cannot evaluate "
                                  f"{fn.body!r}: {_one_line(error)}") from error
    if fn.returns:
        expr = expr.cast(sql_dtype(fn.returns, fn))
    return tree, expr


def _constant(fn: Function, arg: Constant) -> exp.Expression:
    """A constant argument: a string, number, TRUE, FALSE or NULL, nothing else."""
    try:
        value = sqlglot.parse_one(arg.sql, read="databricks")
    except SqlglotError as error:
        raise PolicyFunctionError(f"function {fn.name}: cannot read the constant argument "
                                  f"{arg.sql!r}: {_one_line(error)}") from error
    inner = value.this if isinstance(value, exp.Neg) else value
    if not isinstance(inner, (exp.Literal, exp.Boolean, exp.Null)) or (
            inner is not value and not inner.is_number):
        raise PolicyFunctionError(f"function {fn.name}: argument {arg.sql!r} is neither a "
                                  "column nor a constant")
    return value


def _membership(fn: Function, node: exp.Anonymous, groups: frozenset[str]) -> exp.Expression:
    """`is_account_group_member(g)`: a literal for a constant `g`, else `g IN (groups)`."""
    if len(node.expressions) != 1:
        raise PolicyFunctionError(f"function {fn.name}: {node.name}() takes one group name")
    group = node.expressions[0]
    if isinstance(group, exp.Literal) and group.is_string:
        return exp.Boolean(this=group.name in groups)
    value, names = _unprefixed(group, groups)
    if not names:
        return exp.Boolean(this=False)
    return exp.In(this=value, expressions=[exp.Literal.string(g) for g in sorted(names)])


def _unprefixed(group: exp.Expression, groups: frozenset[str]
                ) -> tuple[exp.Expression, set[str]]:
    """`concat('tenant-', x, '-r') IN (groups)` as `CAST(x AS STRING) IN (the groups named
    'tenant-…-r', without 'tenant-' and '-r')`: the same truth (NULL for a NULL `x`) without
    building a string per row. Any other `group`: itself and `groups`."""
    plain = type(group) is exp.Concat and not group.args.get("coalesce")  # not CONCAT_WS
    parts = group.expressions if plain else [
        group.this, group.expression] if isinstance(group, exp.DPipe) else []
    variable = [i for i, part in enumerate(parts)
                if not (isinstance(part, exp.Literal) and part.is_string)]
    if len(variable) != 1:
        return group, set(groups)
    prefix = "".join(part.name for part in parts[:variable[0]])
    suffix = "".join(part.name for part in parts[variable[0] + 1:])
    names = {g[len(prefix):len(g) - len(suffix)] for g in groups if len(g) >= len(
        prefix) + len(suffix) and g.startswith(prefix) and g.endswith(suffix)}
    return exp.Cast(this=parts[variable[0]], to=exp.DataType.build("STRING")), names


def _result_dtype(fn: Function, expr: pl.Expr, schema: tuple[tuple[str, pl.DataType], ...]
                  ) -> pl.DataType:
    """Run `expr` on no rows of `schema`: catches unknown functions and impossible casts."""
    try:
        return pl.LazyFrame(schema=dict(schema)).select(expr.alias("r")).collect().dtypes[0]
    except pl.exceptions.PolarsError as error:
        raise PolicyFunctionError(f"function {fn.name}: polars' SQL cannot evaluate "
                                  f"{fn.body!r}: {_one_line(error)}") from error


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:500]
