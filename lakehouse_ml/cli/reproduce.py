"""`lakehouse-ml reproduce MODEL[/VERSION|@ALIAS]`: rebuild a model version's training set
from its pinned Delta versions and prove it identical to the one it was trained on."""

from __future__ import annotations

from typing import Annotated

import typer

from lakehouse_ml.cli.governance import AsPrincipal
from lakehouse_ml.config import Settings


def reproduce(
    subject: Annotated[str, typer.Argument(
        metavar="MODEL[/VERSION|@ALIAS]",
        help="A declared model (e.g. churn_clf), and a registered version or the alias "
        "pointing to one (e.g. churn_clf@challenger; default: the champion).")],
    as_principal: AsPrincipal = None,
) -> None:
    """Rebuild the training set of a model version from the Delta versions it pinned, with the
    pipeline's code, and prove it identical (the content hash recorded at training time);
    exit 1 when it differs (naming the columns and rows) or cannot be rebuilt (a pinned
    version vacuumed, a subject erased) or the alias is not registered. Needs EXECUTE on the
    model (decided before the alias or version is looked up) and SELECT on every pinned
    table."""
    from lakehouse_ml.catalog import Catalog
    from lakehouse_ml.cli.domains import resolve_model
    from lakehouse_ml.governance.reproduce import reproduce as rebuild
    from lakehouse_ml.ml.model_ref import ModelRef
    from lakehouse_ml.ml.registry import use_tracking

    ref = ModelRef.parse(subject)  # InvalidModelRef: a usage error
    spec = resolve_model(ref.name)
    settings = Settings.from_env()
    catalog = Catalog.from_settings(settings, principal=as_principal)
    client = use_tracking(settings.mlflow_tracking_uri)
    model = catalog.see_model(spec.registered_name(settings.env))  # before the registry
    version = ref.version_in(client, model)  # UnknownModelRef
    result = rebuild(catalog, client, spec, version)
    if not result.identical:
        raise RuntimeError(result.message)
    typer.echo(result.message)
