"""`lakehouse-ml serve` and `lakehouse-ml token create|revoke`: the serving endpoint's
commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli.errors import OneLineErrors
from lakehouse_ml.serving.limits import InvalidSetting, Limits, UnknownKeys

DEFAULT = Limits()

if TYPE_CHECKING:
    from lakehouse_ml.ml.spec import ModelSpec


def endpoints(domain: str | None = None, model: str | None = None) -> dict[str, ModelSpec]:
    """Endpoint name (the model's name) → the model it serves: `model` alone (looked up among
    `domain`'s models when a domain is given), else every model of `domain`, else every
    declared model. ValueError naming the choices for an unknown name, LookupError when there
    is no model to serve (declarations are imported here, not at CLI start: it is slow)."""
    from lakehouse_ml.cli.domains import resolve_domain, resolve_model
    from lakehouse_ml.domains import declared_models

    if model is not None:
        spec = resolve_model(model, domain)
        return {spec.name: spec}
    models = declared_models(resolve_domain(domain).name if domain is not None else None)
    if not models:
        raise LookupError(f"no model to serve: {'domain ' + domain if domain else 'no domain'} "
                          "declares one (MODELS)")
    return {spec.name: spec for spec in models}


def serving_domain(domain: str | None = None, model: str | None = None) -> str:
    """The declared domain whose serving principal `serve` acts as: `domain`; else the domain
    declaring `model`; else the only declared domain. ValueError (a usage error) naming the
    choices for an unknown name, or for no name while several domains are declared, as every
    command's `--domain` and `--model` (`cli.domains`); LookupError when no domain is."""
    from lakehouse_ml.cli.domains import model_domain, resolve_domain, resolve_model

    if domain is not None or model is None:
        return resolve_domain(domain).name
    return model_domain(resolve_model(model).name)


class CannotListen(RuntimeError):
    """The serving port cannot be bound (in use, an address not on this machine)."""


def serve(
    domain: Annotated[str | None, typer.Option(
        help="Serve this domain's models, acting as its serving principal <domain>-serving "
        "(default: the domain declaring --model, else the only declared domain).")] = None,
    model: Annotated[str | None, typer.Option(help="Serve only this model.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8080,
    challenger_share: Annotated[float, typer.Option(
        help="Share of keys scored by the challenger, when there is one.")] = 0.1,
    poll_seconds: Annotated[float, typer.Option(
        help="How often aliases and tokens are re-read.")] = 5.0,
    log_flush_rows: Annotated[int, typer.Option(
        help="Write the inference log every N requests...")] = 1000,
    log_flush_seconds: Annotated[float, typer.Option(help="...or every T seconds.")] = 5.0,
    log_body_bytes: Annotated[int, typer.Option(
        help="Log bodies longer than this as a prefix plus their sha256.")] = 16 * 1024,
    log_buffer_bytes: Annotated[int, typer.Option(
        help="Most log bytes buffered while the table cannot be written; "
        "more is shed and counted on /health.")] = 64 * 1024 * 1024,
    unknown_keys: Annotated[UnknownKeys, typer.Option(
        help="Key-only rows a feature lookup found no row for: 'score' them (flagged in "
        "unmatched_lookups) or 'refuse' the request (422).")] = UnknownKeys.SCORE,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body (413).")
                              ] = DEFAULT.max_body_bytes,
    max_rows: Annotated[int, typer.Option(help="Most rows per request (400).")
                        ] = DEFAULT.max_rows,
    max_header_bytes: Annotated[int, typer.Option(
        help="Largest request line plus headers (431).")] = DEFAULT.max_header_bytes,
    header_seconds: Annotated[float, typer.Option(
        help="Time to send the request line and headers (408).")] = DEFAULT.header_seconds,
    body_seconds: Annotated[float, typer.Option(help="Time to send the body (408).")
                            ] = DEFAULT.body_seconds,
    max_connections: Annotated[int, typer.Option(
        help="Open connections beyond which new ones get 503.")] = DEFAULT.max_connections,
) -> None:
    """Serve the champion (and challenger) models over HTTP: POST
    /serving-endpoints/<name>/invocations with a bearer token; GET /health."""
    import dataclasses

    from lakehouse_ml.config import Settings
    from lakehouse_ml.serving.config import ServingConfig
    from lakehouse_ml.serving.identity import serving_identity
    from lakehouse_ml.serving.server import listening_socket, uvicorn_server

    # always as a domain's serving principal (least privilege, as a Databricks endpoint runs
    # as its own service principal): --domain, else --model's domain, else the only one
    chosen = serving_domain(domain, model)
    settings, served = Settings.from_env(), endpoints(chosen, model)
    try:  # a bad setting is a usage error naming its flags
        config = ServingConfig(
            settings, served, challenger_share=challenger_share,
            poll_seconds=poll_seconds, log_flush_rows=log_flush_rows,
            log_flush_seconds=log_flush_seconds, log_body_bytes=log_body_bytes,
            log_buffer_bytes=log_buffer_bytes, unknown_keys=unknown_keys,
            limits=Limits(max_body_bytes=max_body_bytes, max_rows=max_rows,
                          max_header_bytes=max_header_bytes, header_seconds=header_seconds,
                          body_seconds=body_seconds, max_connections=max_connections),
        )
    except InvalidSetting as error:
        flags = " and ".join(f"'--{name.replace('_', '-')}'" for name in error.names)
        raise typer.BadParameter(error.problem, param_hint=flags) from None
    try:
        listener = listening_socket(host, port)
    except OSError as error:
        raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror or error}"
                           ) from error
    with listener:  # the port first: a port in use changes no grant
        # an admin launching applies the grants derived for it; another acts as itself
        config = dataclasses.replace(config, principal=serving_identity(settings, chosen))
        server = uvicorn_server(config, host, port)  # NoChampion, TrackingUnavailable: exit 1
        typer.echo(f"serving {sorted(config.endpoints)} on http://{host}:{port} as "
                   f"{config.principal}", err=True)
        server.run(sockets=[listener])


tokens = typer.Typer(cls=OneLineErrors, no_args_is_help=True,
                     help="Bearer tokens for the serving endpoints.")
"""Its errors are one line as every command's (`<command>: <problem>`, exit 1, or 2 for a
usage error such as a bad token name)."""


@tokens.command()
def create(
    name: Annotated[str, typer.Option(help="Who or what the token is for.")],
    principal: Annotated[str | None, typer.Option(
        help="The principal the token acts as (default: the caller), e.g. a service "
        "principal, as Databricks' on-behalf-of tokens: needs MODIFY on serving.tokens."
    )] = None,
) -> None:
    """Create a token and print it (only this once: it is stored hashed)."""
    from lakehouse_ml.serving.tokens import TokenStore

    typer.echo(TokenStore(Catalog.from_settings()).create(name, principal))


@tokens.command()
def revoke(name: Annotated[list[str], typer.Option(
        help="The token's name; repeat to revoke several at once.")]) -> None:
    """Revoke tokens: requests with them get 401 once servers re-read tokens. Every name must
    have an active token, else none is revoked."""
    from lakehouse_ml.serving.tokens import TokenStore

    TokenStore(Catalog.from_settings()).revoke(*name)
    for each in dict.fromkeys(name):
        typer.echo(f"revoked the token named {each!r}")
