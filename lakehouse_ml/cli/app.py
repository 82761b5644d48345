"""The command-line entry point; each command is a thin call into the engine."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli.audit import audit
from lakehouse_ml.cli.errors import OneLineErrors
from lakehouse_ml.cli.forget import forget
from lakehouse_ml.cli.governance import AsPrincipal, policy, sql
from lakehouse_ml.cli.governance import catalog as catalog_cli
from lakehouse_ml.cli.lineage import lineage
from lakehouse_ml.cli.reproduce import reproduce
from lakehouse_ml.cli.serving import serve, tokens
from lakehouse_ml.cli.table_output import print_table
from lakehouse_ml.config import Settings

app = typer.Typer(
    cls=OneLineErrors, help="lakehouse_ml: an ML lakehouse on Delta, Dagster and MLflow.",
    no_args_is_help=True, add_completion=False,
)
console = Console()


@app.callback()
def main(debug: Annotated[bool, typer.Option(
    "--debug", envvar="LAKEHOUSE_DEBUG",
    help="Show the traceback of an error (else one line: exit 2 usage, 1 failure).")] = False,
) -> None:
    """lakehouse_ml: an ML lakehouse on Delta, Dagster and MLflow."""


def _landing_has_data(landing: Path) -> bool:
    return landing.is_dir() and any(p.is_dir() for p in landing.iterdir())


DAY = ["%Y-%m-%d"]


@app.command()
def generate(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option(help="Number of customers.", max=1_000_000)] = 2000,
    days: Annotated[int, typer.Option(
        help="Days of history, ending yesterday (UTC); enough to train on.")] = 120,
    start: Annotated[datetime | None, typer.Option(formats=DAY, help="First day.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
    dirty_fraction: Annotated[float, typer.Option(
        help="Share of bad records mixed in, 0 to 1.")] = 0.0,
    drift_from: Annotated[datetime | None, typer.Option(
        formats=DAY, help="Shift behaviour from this generated day.")] = None,
    next_day: Annotated[bool, typer.Option(
        help="Drop the day after the last landed one (no other option).")] = False,
    if_empty: Annotated[bool, typer.Option(help="Do nothing if the landing zone has data.")]
    = False,
) -> None:
    """Write the churn demo's daily drops under the landing zone."""
    from lakehouse_ml.domains.churn import generator

    landing = Path(Settings.from_env().landing)
    given = [name for name in ("customers", "days", "start", "seed", "dirty_fraction",
                               "drift_from")
             if ctx.get_parameter_source(name) != ParameterSource.DEFAULT]
    try:
        if next_day and given:
            raise generator.OptionError(given[0], "cannot be combined with --next-day (it "
                                        "continues the landed demo with its own options)")
        if if_empty and _landing_has_data(landing):
            typer.echo(f"landing zone {landing} already has data; not generating")
            return
        if next_day:
            report = generator.generate_next_day(landing)
        else:
            generator.require_trainable(days)
            report = generator.generate(
                landing, customers=customers, days=days, start=start and start.date(),
                seed=seed, dirty_fraction=dirty_fraction,
                drift_from=drift_from and drift_from.date(),
            )
    except generator.OptionError as error:
        option = f"'--{error.option.replace('_', '-')}'"
        raise typer.BadParameter(error.reason, param_hint=option) from error
    typer.echo(
        f"wrote {len(report.files)} files for {report.first_day} .. {report.last_day} "
        f"under {landing}: {dict(report.records)}"
    )


@app.command()
def run(
    ctx: typer.Context,
    domain: Annotated[str | None, typer.Option(
        help="Only this domain (default: every domain with landed files).")] = None,
    model: Annotated[str | None, typer.Option(
        help="Only this model's jobs, after its domain's daily refresh (default: every model "
        "of each domain run).")] = None,
    start: Annotated[str | None, typer.Option(help="First partition (default: first landed day).")]
    = None,
    end: Annotated[str | None, typer.Option(help="Last partition (default: last landed day).")]
    = None,
    force: Annotated[bool, typer.Option(
        help="Retrain even when the data versions are those of the champion (or of another "
        "validated version): by default such a model is not trained again.")] = False,
) -> None:
    """Per domain: its landed days in one <domain>_daily_refresh run, then each model's
    <model>_train_validate_deploy and <model>_batch_score (--model: only that model's, in its
    domain). A broken domain package is left out, said on stderr first (exit 1 at the end
    unless --domain or --model chose another domain)."""
    from lakehouse_ml.cli.pipeline import failed_steps, materialize_range, summary

    broken = _say_broken(ctx)
    results = materialize_range(start, end, domain, say=typer.echo, model=model,
                                verbose=bool(ctx.find_root().params.get("debug")), force=force)
    summary(console, results)
    failed = [line for r in results if not r.success for line in failed_steps(r)]
    for line in failed:
        typer.echo(line, err=True)
    if failed or (broken and domain is None and model is None):
        raise typer.Exit(1)


def _say_broken(ctx: typer.Context) -> int:
    """One line on stderr per broken domain package (its folder and why); how many. The
    command says them itself: `discover`'s log warnings (stderr too) are silenced."""
    from lakehouse_ml.domains import discover, log

    if not log.handlers:
        log.addHandler(logging.NullHandler())
    broken = discover().broken
    for package in broken:
        typer.echo(f"{ctx.command_path}: domain package left out: {package}", err=True)
    return len(broken)


@app.command()
def domains(ctx: typer.Context) -> None:
    """The declared domains: sources, landed days, models and their jobs; a broken domain
    package is one line on stderr (its folder and why), and the exit code 1. So is a model
    whose params values the estimator refuses (checked here and when it trains, not at load:
    `ml.estimator`)."""
    from lakehouse_ml.cli.pipeline import describe_domains
    from lakehouse_ml.domains import discover
    from lakehouse_ml.ml.estimator import params_refused

    broken = _say_broken(ctx)
    for line in describe_domains(Settings.from_env().landing):
        typer.echo(line)
    refused = [why for declared in discover().declared.values() for model in declared.models
               if (why := params_refused(model.name, model.params)) is not None]
    for why in refused:
        typer.echo(f"{ctx.command_path}: {why}", err=True)
    if broken or refused:
        raise typer.Exit(1)


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why; recorded with the alias change.")],
    domain: Annotated[str | None, typer.Option(
        help="Choose the model among this domain's (default: among every declared model).")]
    = None,
    model: Annotated[str | None, typer.Option(
        help="Model name (default: the only model declared, in --domain when given).")] = None,
    to_version: Annotated[int | None, typer.Option(
        help="Version to make champion (default: the champion before the current one, from "
        "<schema>.alias_changes, skipping versions already rolled back).", min=1)] = None,
) -> None:
    """Make an earlier champion the champion again (recorded in <schema>.alias_changes); a
    version that does not exist or has not passed validation is refused."""
    import getpass

    from lakehouse_ml.cli.domains import resolve_model
    from lakehouse_ml.ml.deploy import rollback as roll_back
    from lakehouse_ml.ml.registry import use_tracking

    spec = resolve_model(model, domain)
    settings = Settings.from_env()
    catalog = Catalog.from_settings(settings)
    name = spec.registered_name(settings.env)
    version = roll_back(catalog, use_tracking(settings.mlflow_tracking_uri), spec.schema, name,
                        actor=f"cli:{getpass.getuser()}", reason=reason, to_version=to_version)
    typer.echo(f"{name}: champion is version {version} again")


@app.command()
def tables(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every table of the current catalog: name, location, Delta version, rows."""
    catalog = Catalog.from_settings()
    rows = [
        {"name": t.name, "path": t.location, "version": catalog.version(t.name),
         "rows": catalog.scan(t.name).select(pl.len()).collect().item(), "owner": t.info.owner}
        for t in catalog.tables()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("table", "version", "rows", "owner", "path")
    for row in rows:
        table.add_row(row["name"], str(row["version"]), str(row["rows"]), row["owner"],
                      row["path"])
    console.print(table)


@app.command()
def history(name: str, limit: Annotated[int, typer.Option(help="Most recent N.", min=1)] = 20
            ) -> None:
    """A table's Delta history: version, time, operation, metrics."""
    table = Table("version", "timestamp", "operation", "parameters", "metrics")
    for entry in Catalog.from_settings().history(name, limit):
        table.add_row(
            str(entry.get("version")), str(entry.get("timestamp")), str(entry.get("operation")),
            json.dumps(entry.get("operationParameters", {})),
            json.dumps(entry.get("operationMetrics", {})),
        )
    console.print(table)


@app.command()
def read(
    name: str,
    version: Annotated[int | None, typer.Option(help="Delta version (time travel).", min=0)]
    = None,
    timestamp: Annotated[str | None, typer.Option(
        help="As of an ISO-8601 time: the latest version committed at or before it, as Delta's "
        "TIMESTAMP AS OF; a time without offset is UTC. Not with --version.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.", min=0)] = 20,
    as_principal: AsPrincipal = None,
) -> None:
    """Print a table's rows, at its latest or an earlier version (a time before the table's
    first commit is an error naming that commit's time, as in Delta), as the acting
    principal sees them: it needs USE CATALOG, USE SCHEMA and SELECT, and the table's row
    filter and column masks apply."""
    from datetime import UTC, datetime

    if version is not None and timestamp is not None:
        raise typer.BadParameter("give --version or --timestamp, not both",
                                 param_hint="'--timestamp'")
    at = datetime.fromisoformat(timestamp) if timestamp else None
    catalog = Catalog.from_settings(principal=as_principal)
    if version is not None and version > (latest := catalog.version(name)):
        raise LookupError(f"table {catalog.name(name)} has no version {version} "
                          f"(latest is {latest})")
    if at is not None:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        first = min(catalog.history(name), key=lambda entry: entry["version"])
        created = datetime.fromtimestamp(first["timestamp"] / 1000, UTC)
        if at < created:
            raise LookupError(f"table {catalog.name(name)} did not exist at {at.isoformat()}: "
                              f"its first commit (version {first['version']}) is at "
                              f"{created.isoformat()}")
    frame = catalog.scan(name, version if at is None else at).head(limit).collect()
    print_table(frame, console.print, tbl_rows=limit, tbl_cols=-1, tbl_width_chars=200)


app.command()(serve)
app.add_typer(tokens, name="token")
app.add_typer(audit, name="audit")
app.command()(lineage)
app.command()(sql)
app.add_typer(catalog_cli, name="catalog")
app.add_typer(policy, name="policy")
app.command()(reproduce)
app.command()(forget)
