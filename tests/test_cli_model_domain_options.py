"""`lakehouse-ml run --model` and `lakehouse-ml rollback --domain` (issue 11 point 2: the
commands that act on a domain or a model take both, with the defaults and errors of
`cli.domains`): `run --model X` runs X's domain with only X's jobs; `rollback --domain D`
chooses among D's models, `--model` optional when D has one."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.ml.registry import CHAMPION, alias_version, use_tracking
from tests.user_domains import declare_user_domains

runner = CliRunner()
FLEET_DAYS = [date(2026, 2, 1) + timedelta(days=i) for i in range(4)]


def one_line(result: Result, code: int) -> str:
    """The single stderr line of a refused command, checked for its exit code."""
    assert result.exit_code == code, result.output
    (line,) = result.stderr.strip().splitlines()
    return line


def test_unknown_or_misplaced_model_is_a_usage_error_listing_the_choices(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_user_domains(monkeypatch)  # churn (churn_clf), fleet (breakdown_clf), sensors

    assert one_line(runner.invoke(app, ["run", "--model", "nope"]), 2).endswith(
        " run: unknown model 'nope'; declared: churn_clf, breakdown_clf")
    assert one_line(runner.invoke(app, ["run", "--domain", "churn", "--model",
                                        "breakdown_clf"]), 2).endswith(
        " run: unknown model 'breakdown_clf' in domain 'churn'; declared: churn_clf")
    assert one_line(runner.invoke(app, ["run", "--domain", "sensors", "--model",
                                        "breakdown_clf"]), 2).endswith(
        " run: unknown model 'breakdown_clf' in domain 'sensors'; declared: none")
    assert one_line(runner.invoke(app, ["run", "--domain", "nope", "--model",
                                        "breakdown_clf"]), 2).endswith(
        " run: unknown domain 'nope'; declared: churn, fleet, sensors")
    # a model of a domain with nothing landed: that domain is named, not every domain
    assert f"no landed files under {settings.landing} for domain fleet (fleet: pings, " in (
        one_line(runner.invoke(app, ["run", "--model", "breakdown_clf"]), 1))

    rollback = ["rollback", "--reason", "r"]
    assert one_line(runner.invoke(app, [*rollback, "--domain", "nope"]), 2).endswith(
        " rollback: unknown domain 'nope'; declared: churn, fleet, sensors")
    assert one_line(runner.invoke(app, [*rollback, "--domain", "fleet", "--model",
                                        "churn_clf"]), 2).endswith(
        " rollback: unknown model 'churn_clf' in domain 'fleet'; declared: breakdown_clf")
    assert one_line(runner.invoke(app, [*rollback, "--domain", "sensors"]), 1).endswith(
        " rollback: no model is declared in domain 'sensors' (a domain package declares its "
        "models in MODELS)")
    assert one_line(runner.invoke(app, rollback), 2).endswith(
        " rollback: 2 models are declared (churn_clf, breakdown_clf): choose one with --model")


def test_run_model_runs_its_domain_with_only_its_jobs_and_rollback_domain_finds_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    fleet = declare_user_domains(monkeypatch)
    (breakdown,) = fleet.MODELS
    other = replace(breakdown, name="heat_clf", batch_scoring=None)  # a second model of fleet
    monkeypatch.setattr(fleet, "MODELS", (breakdown, other))
    for day in FLEET_DAYS:
        fleet.land_day(settings.landing, day, labels=day != FLEET_DAYS[0])

    result = runner.invoke(app, ["run", "--model", "breakdown_clf"])  # its domain: fleet

    assert result.exit_code == 0, result.output + result.stderr
    assert "fleet: fleet_daily_refresh over 2026-02-01 .. 2026-02-04" in result.output
    assert "fleet: breakdown_clf_train_validate_deploy\n" in result.output
    assert "fleet: breakdown_clf_batch_score\n" in result.output
    assert "heat_clf" not in result.output
    client = use_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert alias_version(client, "dev.fleet.breakdown_clf", CHAMPION) == 1
    assert not client.search_registered_models("name = 'dev.fleet.heat_clf'")

    several = runner.invoke(app, ["rollback", "--reason", "r", "--domain", "fleet"])
    assert one_line(several, 2).endswith(
        " rollback: 2 models are declared in domain 'fleet' (breakdown_clf, heat_clf): choose "
        "one with --model")
    refused = ("dev.fleet.breakdown_clf: cannot roll back to version 1: it is the champion "
               "already")
    chosen = runner.invoke(app, ["rollback", "--reason", "r", "--domain", "fleet", "--model",
                                 "breakdown_clf", "--to-version", "1"])
    assert one_line(chosen, 1).endswith(f" rollback: {refused}")
    monkeypatch.setattr(fleet, "MODELS", (breakdown,))  # fleet's only model: --model optional
    only = runner.invoke(app, ["rollback", "--reason", "r", "--domain", "fleet",
                               "--to-version", "1"])
    assert one_line(only, 1).endswith(f" rollback: {refused}")
