"""`lakehouse-ml forget --key COLUMN=VALUE [--dry-run] [--json]`: erase a data subject."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lakehouse_ml.cli.governance import AsPrincipal, Json
from lakehouse_ml.config import Settings


def forget(
    key: Annotated[str, typer.Option(
        "--key", metavar="COLUMN=VALUE",
        help="The data subject: a key column and its value, e.g. customer_id=42.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List every place that holds the subject; change nothing.")] = False,
    as_json: Json = False,
    as_principal: AsPrincipal = None,
) -> None:
    """Erase a data subject (right to be forgotten) from every table that holds its key or a
    column derived from it, the online stores, the landed files (and their manifest) and the
    MLflow artifacts with rows; vacuum the tables so no file still holds it; tag the model
    versions whose training set held it needs_retraining; audit it with the key hashed.
    Needs MODIFY on every table it changes (the bronze manifests of landed files included) and
    MANAGE on every model whose versions' artifacts it rewrites, all checked before any byte
    changes. Exit 0 also when nothing holds the subject."""
    from lakehouse_ml.governance.erasure import forget as erase
    from lakehouse_ml.governance.erasure_places import Subject

    subject = Subject.parse(key)
    settings = Settings.from_env()
    report = erase(settings.root, settings.env, subject, dry_run=dry_run,
                   principal=as_principal, landing=settings.landing,
                   tracking_uri=settings.mlflow_tracking_uri)
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        for line in report.lines():
            typer.echo(line)
    if report.problems:
        raise RuntimeError(f"{len(report.problems)} place(s) could not be fully erased: "
                           f"{report.problems[0]}")
