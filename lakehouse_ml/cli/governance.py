"""`lakehouse-ml catalog ls|describe|privileges`, `lakehouse-ml sql`, `lakehouse-ml policy
apply`: the governance engine from the command line. `--as` (or `$LAKEHOUSE_PRINCIPAL`)
names the acting principal; the default is the local OS user."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lakehouse_ml.cli.errors import OneLineErrors
from lakehouse_ml.config import Settings
from lakehouse_ml.governance.metastore import Metastore
from lakehouse_ml.governance.principals import ENV_VAR

console = Console()
catalog = typer.Typer(cls=OneLineErrors, no_args_is_help=True,
                      help="Securables: catalogs, schemas, tables, models, functions.")
policy = typer.Typer(cls=OneLineErrors, no_args_is_help=True,
                     help="Governance policy files (groups, grants, owners, tags).")


def _given(name: str | None) -> str | None:
    """`--as` given empty or blank is refused, not taken for the default (the OS user)."""
    if name is not None and not name.strip():
        raise typer.BadParameter("an empty principal name: name one, or leave --as out")
    return name


AsPrincipal = Annotated[str | None, typer.Option(
    "--as", envvar=ENV_VAR, callback=_given,
    help="Act as this principal (default: the local OS user).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _metastore() -> Metastore:
    settings = Settings.from_env()
    return Metastore(settings.root, settings.env)


@catalog.command("ls")
def ls(name: Annotated[str | None, typer.Argument(
        help="A catalog or schema (default: the metastore's catalogs).")] = None,
       as_principal: AsPrincipal = None, as_json: Json = False) -> None:
    """What NAME contains that the acting principal may see (BROWSE on the catalog, or USE
    on the containers and a privilege on it): type, full name, owner, comment. A NAME it may
    not see is denied, whether or not it exists."""
    rows = [{"type": c.type, "name": c.name, "owner": c.owner, "comment": c.comment}
            for c in _metastore().listing(name, as_principal=as_principal)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("type", "name", "owner", "comment")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


@catalog.command()
def describe(name: Annotated[str, typer.Argument(
        help="metastore, a catalog, schema, or three-part table/model/function name.")],
             as_principal: AsPrincipal = None) -> None:
    """A securable's owner, comment, tags, column tags, row filter, masks (as JSON). A name
    the acting principal may not see (BROWSE on its catalog, or USE on its containers and a
    privilege on it) is denied, whether or not it exists, as Unity Catalog does."""
    found = _metastore().describe(name, as_principal=as_principal)
    typer.echo(json.dumps({k: v for k, v in asdict(found).items() if v not in ("", None, {})},
                          indent=2, sort_keys=True))


@catalog.command()
def privileges(name: Annotated[str, typer.Argument(help="A securable's name.")],
               principal: Annotated[str | None, typer.Option(
                   help="Whose (default: the acting principal).")] = None,
               as_principal: AsPrincipal = None, as_json: Json = False) -> None:
    """The effective privileges of a principal on a securable, each with its source: the
    securable holding the grant and the grantee (the principal or one of its groups)."""
    from lakehouse_ml.governance.principals import current_principal

    metastore = _metastore()
    found = metastore.describe(name, as_principal=as_principal)  # denied unless it may see it
    who = principal or current_principal(as_principal)
    rows = [asdict(s) for s in metastore.effective_privileges(who, found.type, found.name)]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("privilege", "from securable", "grantee", "via",
                  title=f"{who} on {found.type} {found.name}")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


def sql(statement: Annotated[str, typer.Argument(help="One governance SQL statement.")],
        as_principal: AsPrincipal = None, as_json: Json = False) -> None:
    """Run GRANT, REVOKE, SHOW GRANTS, ALTER ... OWNER TO / SET TAGS / ROW FILTER / MASK or
    CREATE FUNCTION ... RETURN, as Databricks SQL."""
    from lakehouse_ml.governance.sql import run_sql

    result = run_sql(_metastore(), statement, as_principal=as_principal)
    if as_json:
        typer.echo(json.dumps(result.rows if result.rows else {"message": result.message}))
    elif result.rows:
        table = Table(*result.rows[0])
        for row in result.rows:
            table.add_row(*row.values())
        console.print(table)
    else:
        typer.echo(result.message)


@policy.command()
def apply(path: Annotated[Path, typer.Argument(help="The policy YAML file.")],
          as_principal: AsPrincipal = None) -> None:
    """Make a policy file true (idempotent: applying it again changes nothing)."""
    from lakehouse_ml.governance.policy import apply_policy

    metastore = apply_policy(path, as_principal, metastore=_metastore())
    typer.echo(f"policy {path} applied (governance state version "
               f"{metastore.store.version()})")
