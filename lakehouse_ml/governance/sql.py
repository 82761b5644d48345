"""Governance SQL as Databricks users type it, run against a `Metastore`.

`CREATE [OR REPLACE] FUNCTION name(arg TYPE, ...) RETURNS TYPE RETURN expr` is parsed by
sqlglot's Databricks dialect (the body is kept as SQL text, and refused at once if polars' SQL
cannot evaluate it as a row filter or column mask: see row_column.py).
sqlglot 30.30 does not model the rest (SHOW GRANTS, OWNER TO, column tags, ROW FILTER, MASK,
GRANT ALL PRIVILEGES fall back to an opaque `Command`), so they are read by the small grammar
below over sqlglot's Databricks tokens (quoting, strings and comments as Databricks has them):

    GRANT privilege [, ...] ON securable TO principal
    REVOKE privilege [, ...] ON securable FROM principal
    SHOW GRANTS [principal] ON securable
    ALTER type name OWNER TO principal
    ALTER type name {SET TAGS (key [= value], ...) | UNSET TAGS (key, ...)}
    ALTER TABLE name ALTER COLUMN column {SET TAGS (...) | UNSET TAGS (...)}
    ALTER TABLE name SET ROW FILTER function ON ([argument, ...]) | DROP ROW FILTER
    ALTER TABLE name ALTER COLUMN column SET MASK function [USING COLUMNS (argument, ...)]
    argument: column | constant (string, number, TRUE, FALSE, NULL), as Databricks allows
    ALTER TABLE name ALTER COLUMN column DROP MASK
    securable: METASTORE | {CATALOG | SCHEMA | TABLE | FUNCTION | [REGISTERED] MODEL} name
               | name (a table)

Errors are `SqlError` (a ValueError) naming the statement's offending word and position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.databricks import Databricks
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.metastore import Metastore
from lakehouse_ml.governance.row_column import Function, PolicyFunctionError, check_function

MAX_SQL_CHARS = 100_000
_QUOTED = (TokenType.IDENTIFIER, TokenType.STRING)
_TYPES = {"CATALOG": s.CATALOG, "SCHEMA": s.SCHEMA, "DATABASE": s.SCHEMA, "TABLE": s.TABLE,
          "FUNCTION": s.FUNCTION, "MODEL": s.MODEL}


class _Tokenizer(Databricks.Tokenizer):
    COMMANDS: set[TokenType] = set()  # SHOW and EXECUTE are read by the grammar, not swallowed


class SqlError(ValueError):
    """A statement that is not one of the supported forms; names the word and where."""


@dataclass(frozen=True)
class SqlResult:
    """`rows` for SHOW GRANTS (principal, action_type, object_type, object_key), else a
    one-line `message` of what changed."""

    message: str
    rows: list[dict[str, str]] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str) -> None:
        try:
            self.tokens: list[Token] = _Tokenizer(dialect=Databricks()).tokenize(text)
        except SqlglotError as error:
            raise SqlError(f"cannot read the statement: {' '.join(str(error).split())}"
                           ) from error
        while self.tokens and self.tokens[-1].token_type == TokenType.SEMICOLON:
            self.tokens.pop()
        self.at = 0

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.at + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def word(self, ahead: int = 0) -> str:
        token = self.peek(ahead)
        return "" if token is None or token.token_type in _QUOTED else token.text.upper()

    def fail(self, expected: str) -> SqlError:
        token = self.peek()
        where = "at the end" if token is None else (
            f"at {token.text!r} (line {token.line}, column {token.col})")
        return SqlError(f"expected {expected} {where}")

    def accept(self, *words: str) -> bool:
        if all(self.word(i) == w for i, w in enumerate(words)):
            self.at += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.fail(" ".join(words))

    def punct(self, kind: TokenType, text: str) -> None:
        token = self.peek()
        if token is None or token.token_type != kind:
            raise self.fail(repr(text))
        self.at += 1

    def is_punct(self, kind: TokenType) -> bool:
        token = self.peek()
        return token is not None and token.token_type == kind

    def identifier(self, what: str) -> str:
        token = self.peek()
        if token is None or token.token_type == TokenType.STRING or not (
                token.token_type == TokenType.IDENTIFIER or token.text.replace("_", "").isalnum()):
            raise self.fail(what)
        self.at += 1
        return token.text

    def name(self, what: str) -> str:
        parts = [self.identifier(what)]
        while self.is_punct(TokenType.DOT):
            self.at += 1
            parts.append(self.identifier(what))
        return ".".join(parts)

    def string(self, what: str) -> str:
        token = self.peek()
        if token is None or token.token_type != TokenType.STRING:
            raise self.fail(what)
        self.at += 1
        return token.text

    def listed(self, item: Any, *, empty: bool = False) -> list[Any]:
        self.punct(TokenType.L_PAREN, "(")
        if empty and self.is_punct(TokenType.R_PAREN):
            self.at += 1
            return []
        items = [item()]
        while self.is_punct(TokenType.COMMA):
            self.at += 1
            items.append(item())
        self.punct(TokenType.R_PAREN, ")")
        return items

    def argument(self) -> str | dict[str, str]:
        """A column name, or a constant (string, number, TRUE, FALSE, NULL) stored as
        `{"literal": its Databricks SQL}`."""
        token = self.peek()
        kind = None if token is None else token.token_type
        if token is not None and kind == TokenType.STRING:
            self.at += 1
            return {"literal": exp.Literal.string(token.text).sql("databricks")}
        if token is not None and kind in (TokenType.TRUE, TokenType.FALSE, TokenType.NULL):
            self.at += 1
            return {"literal": token.text.upper()}
        sign = "-" if kind == TokenType.DASH else ""
        number = self.peek(1 if sign else 0)
        if number is not None and number.token_type == TokenType.NUMBER:
            self.at += 2 if sign else 1
            return {"literal": sign + number.text}
        return self.identifier("a column name or a constant")

    def end(self) -> None:
        if self.peek() is not None:
            raise self.fail("the end of the statement")

    def securable(self) -> tuple[str, str]:
        if self.accept("METASTORE"):
            return s.METASTORE, s.METASTORE_NAME
        self.accept("REGISTERED")
        kind = _TYPES.get(self.word())
        if kind is not None:
            self.at += 1
        return kind or s.TABLE, self.name("a securable name")

    def privileges(self) -> list[str]:
        found, words = [], []
        while self.peek() is not None and self.word() != "ON":
            if self.is_punct(TokenType.COMMA):
                if not words:
                    raise self.fail("a privilege")
                found.append(" ".join(words))
                words = []
            else:
                words.append(self.identifier("a privilege").upper())
                continue
            self.at += 1
        if not words:
            raise self.fail("a privilege")
        return [*found, " ".join(words)]


def run_sql(metastore: Metastore, text: str, *, as_principal: str | None = None) -> SqlResult:
    """Run one governance statement as `as_principal` (default: the current principal)."""
    if not isinstance(text, str) or not text.strip():
        raise SqlError("empty statement")
    if len(text) > MAX_SQL_CHARS:
        raise SqlError(f"statement longer than {MAX_SQL_CHARS} characters")
    parser = _Parser(text)
    verb = parser.word()
    if verb == "CREATE":
        return _create_function(metastore, text, as_principal)
    handler = {"GRANT": _grant, "REVOKE": _grant, "SHOW": _show, "ALTER": _alter}.get(verb)
    if handler is None:
        raise parser.fail("GRANT, REVOKE, SHOW GRANTS, ALTER or CREATE FUNCTION")
    return handler(metastore, parser, as_principal)


def _grant(m: Metastore, parser: _Parser, actor: str | None) -> SqlResult:
    grant = parser.accept("GRANT")
    parser.expect("REVOKE") if not grant else None
    privileges = parser.privileges()
    parser.expect("ON")
    kind, name = parser.securable()
    parser.expect("TO" if grant else "FROM")
    principal = parser.identifier("a principal")
    parser.end()
    (m.grant if grant else m.revoke)(privileges, kind, name, principal, as_principal=actor)
    verb = "granted" if grant else "revoked"
    return SqlResult(f"{verb} {', '.join(privileges)} on {kind} {name} "
                     f"{'to' if grant else 'from'} {principal}")


def _show(m: Metastore, parser: _Parser, actor: str | None) -> SqlResult:
    parser.expect("SHOW", "GRANTS")
    principal = None if parser.word() == "ON" else parser.identifier("a principal or ON")
    parser.expect("ON")
    kind, name = parser.securable()
    parser.end()
    rows = m.show_grants(kind, name, principal, as_principal=actor)
    return SqlResult(f"{len(rows)} grant(s) on {kind} {name}", rows)


def _tags(parser: _Parser, unset: bool) -> dict[str, str]:
    def pair() -> tuple[str, str]:
        key = parser.string("a tag key (a string)")
        if not unset and parser.is_punct(TokenType.EQ):
            parser.at += 1
            return key, parser.string("a tag value (a string)")
        return key, ""
    return dict(parser.listed(pair))


def _alter(m: Metastore, parser: _Parser, actor: str | None) -> SqlResult:
    parser.expect("ALTER")
    parser.accept("REGISTERED")
    kind = _TYPES.get(parser.word())
    if kind is None:
        raise parser.fail("CATALOG, SCHEMA, TABLE, FUNCTION or MODEL")
    parser.at += 1
    name = parser.name(f"a {kind.lower()} name")
    if parser.accept("OWNER", "TO"):
        owner = parser.identifier("a principal")
        parser.end()
        m.set_owner(kind, name, owner, as_principal=actor)
        return SqlResult(f"{kind} {name} is owned by {owner}")
    column = None
    if kind == s.TABLE and parser.accept("ALTER", "COLUMN"):
        column = parser.identifier("a column name")
        if parser.accept("SET", "MASK"):
            function = parser.name("a function name")
            using = parser.listed(parser.argument) if parser.accept("USING", "COLUMNS") else []
            parser.end()
            m.set_column_mask(name, column, function, using, as_principal=actor)
            return SqlResult(f"column {column} of {name} is masked by {function}")
        if parser.accept("DROP", "MASK"):
            parser.end()
            m.set_column_mask(name, column, None, as_principal=actor)
            return SqlResult(f"column {column} of {name} has no mask")
    elif kind == s.TABLE and parser.accept("SET", "ROW", "FILTER"):
        function = parser.name("a function name")
        parser.expect("ON")
        columns = parser.listed(parser.argument, empty=True)
        parser.end()
        m.set_row_filter(name, function, columns, as_principal=actor)
        shown = ", ".join(c if isinstance(c, str) else c["literal"] for c in columns)
        return SqlResult(f"table {name} is filtered by {function}({shown})")
    elif kind == s.TABLE and parser.accept("DROP", "ROW", "FILTER"):
        parser.end()
        m.set_row_filter(name, None, as_principal=actor)
        return SqlResult(f"table {name} has no row filter")
    unset = parser.accept("UNSET", "TAGS")
    if not unset and not parser.accept("SET", "TAGS"):
        raise parser.fail("OWNER TO, SET TAGS, UNSET TAGS" + (
            ", ALTER COLUMN, SET ROW FILTER or DROP ROW FILTER" if kind == s.TABLE else ""))
    tags = _tags(parser, unset)
    parser.end()
    m.set_tags(kind, name, tags, column=column, unset=unset, as_principal=actor)
    where = f"{kind} {name}" + (f" column {column}" if column else "")
    return SqlResult(f"{'unset' if unset else 'set'} tags {sorted(tags)} on {where}")


@dataclass(frozen=True)
class FunctionStatement:
    """A parsed `CREATE [OR REPLACE] FUNCTION [IF NOT EXISTS]`: `definition` is what the
    metastore stores (parameters [{name, type}], returns, body, all Databricks SQL)."""

    name: str
    definition: dict[str, Any]
    replace: bool
    if_not_exists: bool


def parse_function(text: str) -> FunctionStatement:
    """Parse a CREATE FUNCTION statement and check that polars' SQL can evaluate its body
    (row_column.check_function). SqlError naming the function and the construct otherwise."""
    try:
        tree = sqlglot.parse_one(text, read="databricks")
    except SqlglotError as error:
        raise SqlError(f"cannot parse CREATE FUNCTION: {' '.join(str(error).split())}"
                       ) from error
    body = tree.args.get("expression") if isinstance(tree, exp.Create) else None
    if not (isinstance(tree, exp.Create) and tree.args.get("kind") == "FUNCTION"
            and isinstance(tree.this, exp.UserDefinedFunction) and isinstance(body, exp.Return)):
        raise SqlError("only CREATE [OR REPLACE] FUNCTION name(args) RETURNS type RETURN "
                       "expression is supported")
    name = ".".join(part.name for part in tree.this.this.parts)
    untyped = [c.name for c in tree.this.expressions if not c.args.get("kind")]
    if untyped:
        raise SqlError(f"function {name}: parameter(s) {', '.join(untyped)} need a type, "
                       "e.g. (email STRING)")
    returns = tree.find(exp.ReturnsProperty)
    definition = {
        "parameters": [{"name": c.name, "type": c.args["kind"].sql("databricks")}
                       for c in tree.this.expressions],
        "returns": returns.this.sql("databricks") if returns and returns.this else "",
        "body": body.this.sql("databricks"),
    }
    try:  # refused now rather than at the first read it would deny
        check_function(Function.from_definition(name, definition))
    except PolicyFunctionError as error:
        raise SqlError(str(error)) from error
    return FunctionStatement(name, definition, bool(tree.args.get("replace")),
                             bool(tree.args.get("exists")))


def _create_function(m: Metastore, text: str, actor: str | None) -> SqlResult:
    f = parse_function(text)
    m.create(s.FUNCTION, f.name, definition=f.definition, replace=f.replace,
             if_not_exists=f.if_not_exists, as_principal=actor)
    return SqlResult(f"function {f.name} created")
