"""`lakehouse-ml audit verify|show`: the audit log's chain and records."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import polars as pl
import typer

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli.errors import OneLineErrors
from lakehouse_ml.cli.table_output import print_table

NOTHING_TO_VERIFY = 3
"""Exit code of `audit verify` when no record was ever written (neither a pass nor a break)."""

audit = typer.Typer(cls=OneLineErrors, no_args_is_help=True,
                    help="The audit log (governance.audit_log): verify its chain, show records.")


@audit.command()
def verify() -> None:
    """Check the hash chain: exit 0 and its head if intact; else one line naming the first
    broken link (sequence and what is wrong), exit 1; exit 3 if there is nothing to verify."""
    from lakehouse_ml.governance.audit_chain import ChainBroken
    from lakehouse_ml.governance.audit_read import NothingToVerify, verify_log

    try:
        head, version = verify_log(Catalog.from_settings())
    except NothingToVerify as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(NOTHING_TO_VERIFY) from None
    except ChainBroken as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"audit chain intact: {head.sequence} records, head {head.hash} "
               f"(table version {version})")


@audit.command()
def show(
    principal: Annotated[str | None, typer.Option(help="Only this principal's records.")]
    = None,
    action: Annotated[str | None, typer.Option(help="Only this action_name.")] = None,
    securable: Annotated[str | None, typer.Option(
        help="Only actions on this securable or under it (e.g. a schema).")] = None,
    since: Annotated[str | None, typer.Option(
        help="Only records at or after this ISO-8601 time (UTC if no offset).")] = None,
    limit: Annotated[int, typer.Option(help="The latest N records.", min=1, max=100_000)]
    = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
    = False,
) -> None:
    """Print audit records, oldest first."""
    from lakehouse_ml.governance.audit_read import show as select

    frame = select(Catalog.from_settings(), principal=principal, action=action,
                   securable=securable, since=since and datetime.fromisoformat(since),
                   limit=limit)
    if as_json:
        for row in frame.iter_rows(named=True):
            row["request_params"] = {p["key"]: p["value"] for p in row["request_params"]}
            typer.echo(json.dumps(row, default=str))
        return
    view = frame.select(
        "sequence", "event_time", pl.col("user_identity").struct.field("email").alias("user"),
        "service_name", "action_name",
        pl.col("response").struct.field("status_code"), "source", "request_params")
    print_table(view, typer.echo, tbl_rows=limit, tbl_cols=-1, tbl_width_chars=200,
                fmt_str_lengths=80)
