"""`lakehouse-ml lineage NAME --upstream|--downstream`: what a table, column, model (version)
or landed file comes from or feeds, as recorded when the runs read and wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli.governance import AsPrincipal


def lineage(
    name: Annotated[str, typer.Argument(help="A table (schema.table), a model (schema.model "
                                        "or schema.model/VERSION) or a landed file's "
                                        "manifest path.")],
    upstream: Annotated[bool, typer.Option("--upstream", help="What it comes from.")]
    = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="What it feeds.")] = False,
    column: Annotated[str | None, typer.Option(help="A column of the table.")] = None,
    depth: Annotated[int | None, typer.Option(help="At most N hops (default: all).",
                                              min=1, max=1000)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")]
    = False,
    html: Annotated[Path | None, typer.Option(
        help="Also write the answer as an HTML page with a graph to this file.")] = None,
    as_principal: AsPrincipal = None,
) -> None:
    """Lineage recorded at execution time (governance.table_lineage / column_lineage), with
    the versions read and written. Needs BROWSE or SELECT (EXECUTE for a model) on NAME;
    what the principal may not see is shown as <redacted>."""
    from lakehouse_ml.governance.lineage_query import DOWNSTREAM, UPSTREAM
    from lakehouse_ml.governance.lineage_query import lineage as ask
    from lakehouse_ml.governance.lineage_render import lineage_html, versions_text

    if upstream == downstream:
        raise typer.BadParameter("give exactly one of --upstream and --downstream",
                                 param_hint="'--upstream'")
    answer = ask(Catalog.from_settings(principal=as_principal), name,
                 UPSTREAM if upstream else DOWNSTREAM, column=column, depth=depth)
    if html is not None:
        html.write_text(lineage_html([answer], f"Lineage of {answer.title()}"))
    if as_json:
        typer.echo(json.dumps(answer.to_json()))
        return
    typer.echo(f"{answer.direction} of {answer.root.type} {answer.title()}: "
               f"{len(answer.vertices())} nodes")
    for link in answer.links:
        typer.echo(f"{'  ' * link.depth}{link.source.type} {link.source.label()} "
                   f"[{versions_text(link.source_versions)}] -> {link.target.type} "
                   f"{link.target.label()} [{versions_text(link.target_versions)}]")
