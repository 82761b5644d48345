"""`lakehouse-ml lineage NAME --upstream|--downstream`: what a table, column, model (version)
or landed file comes from or feeds, as recorded when the runs read and wrote."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.names import is_identifier
from lakehouse_ml.cli.governance import AsPrincipal


def lineage(
    name: Annotated[str, typer.Argument(help="A table (schema.table), a model (a declared "
                                        "model's name, schema.model or catalog.schema.model; "
                                        "/VERSION or @ALIAS for one version, as MLflow's "
                                        "models:/ URIs) or a landed file's manifest path.")],
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
    what the principal may not see is shown as <redacted>. An alias (`churn_clf@champion`) is
    the version it points to now; an unknown alias or model is a one-line error naming it."""
    from lakehouse_ml.governance.lineage_query import DOWNSTREAM, UPSTREAM
    from lakehouse_ml.governance.lineage_query import lineage as ask
    from lakehouse_ml.governance.lineage_render import lineage_html, versions_text

    if upstream == downstream:
        raise typer.BadParameter("give exactly one of --upstream and --downstream",
                                 param_hint="'--upstream'")
    catalog = Catalog.from_settings(principal=as_principal)
    answer = ask(catalog, _registered(name, catalog.env), UPSTREAM if upstream else DOWNSTREAM,
                 column=column, depth=depth)
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


def _registered(name: str, env: str) -> str:
    """A declared model's name (`churn_clf`, `churn_clf@champion`, `churn_clf/2`) as its
    registered full name with the same version or alias; any other NAME unchanged (the query
    says what it is not)."""
    from lakehouse_ml.domains import declared_models
    from lakehouse_ml.ml.model_ref import InvalidModelRef, ModelRef

    try:
        ref = ModelRef.parse(name)
    except InvalidModelRef:
        return name
    if not is_identifier(ref.name):
        return name
    declared = {spec.name: spec for spec in declared_models()}
    if ref.name not in declared:
        return name
    return str(replace(ref, name=declared[ref.name].registered_name(env)))
