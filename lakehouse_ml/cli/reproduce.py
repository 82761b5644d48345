"""`lakehouse-ml reproduce MODEL[/VERSION]`: rebuild a model version's training set from its
pinned Delta versions and prove it identical to the one it was trained on."""

from __future__ import annotations

from typing import Annotated

import typer

from lakehouse_ml.cli.governance import AsPrincipal
from lakehouse_ml.config import Settings


def parse_subject(text: str) -> tuple[str, int | None]:
    """`MODEL` or `MODEL/VERSION` → (model, version or None); ValueError (usage) otherwise."""
    model, slash, version = text.partition("/")
    if not model or (slash and not version.isdigit()) or (slash and int(version) < 1):
        raise ValueError(f"{text!r} is not MODEL or MODEL/VERSION (a version is a number >= 1)")
    return model, int(version) if slash else None


def reproduce(
    subject: Annotated[str, typer.Argument(
        metavar="MODEL[/VERSION]",
        help="A declared model (e.g. churn_clf), and a registered version (default: the "
        "champion).")],
    as_principal: AsPrincipal = None,
) -> None:
    """Rebuild the training set of a model version from the Delta versions it pinned, with the
    pipeline's code, and prove it identical (the content hash recorded at training time);
    exit 1 when it differs (naming the columns and rows) or cannot be rebuilt (a pinned
    version vacuumed, a subject erased). Needs SELECT on every pinned table."""
    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.cli.domains import resolve_model
    from lakehouse_ml.governance.reproduce import reproduce as rebuild
    from lakehouse_ml.ml.registry import use_tracking

    model, version = parse_subject(subject)
    spec = resolve_model(model)
    settings = Settings.from_env()
    catalog = Catalog.from_settings(settings, principal=as_principal)
    result = rebuild(catalog, use_tracking(settings.mlflow_tracking_uri), spec, version)
    if not result.identical:
        raise RuntimeError(result.message)
    typer.echo(result.message)
