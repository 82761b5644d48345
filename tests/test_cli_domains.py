"""`lakehouse-ml` with several domains: `--domain`/`--model` choices and their errors,
`domains`, `run` on a landing zone holding only a user's domain, the daily cycle up to today,
and a failed step reported in one line."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

import lakehouse_ml.domains
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.cli.domains import resolve_domain, resolve_model
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.domains import domains
from lakehouse_ml.domains import DomainError, declarations, discover
from lakehouse_ml.ml.run_process import HOST, PID
from tests.boundary_domain import land, reading
from tests.user_domains import PACKAGES, declare_user_domains

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.now(UTC).date()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Dagster home of its own, so that `run`'s runs can be looked at afterwards."""
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    yield folder


def _sensor_day(settings: Settings, day: str, celsius: float = 20.0) -> None:
    land(settings.landing, day, [reading(f"r-{day}", celsius=celsius, at=f"{day}T01:00:00Z")])


def test_only_declared_domain_or_model_is_the_default(settings: Settings) -> None:
    assert resolve_domain(None).name == "churn"
    assert resolve_model(None).name == "churn_clf"
    assert resolve_model(None, "churn").name == "churn_clf"


def test_several_domains_need_a_choice_and_unknown_names_list_the_choices(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_user_domains(monkeypatch)

    with pytest.raises(ValueError, match=r"3 domains are declared \(churn, fleet, sensors\): "
                                         "choose one with --domain"):
        resolve_domain(None)
    with pytest.raises(ValueError, match=r"2 models are declared \(churn_clf, breakdown_clf\)"):
        resolve_model(None)
    assert resolve_model(None, "fleet").name == "breakdown_clf"
    with pytest.raises(ValueError, match="unknown model 'churn_clf' in domain 'fleet'; "
                                         "declared: breakdown_clf"):
        resolve_model("churn_clf", "fleet")

    unknown = runner.invoke(app, ["run", "--domain", "nope"])
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().endswith(" run: unknown domain 'nope'; declared: churn, "
                                           "fleet, sensors")
    no_model = runner.invoke(app, ["serve", "--domain", "sensors"])
    assert no_model.exit_code == 1
    assert "no model to serve: domain sensors declares one" in no_model.stderr
    bad_model = runner.invoke(app, ["serve", "--model", "nope"])
    assert bad_model.exit_code == 2
    assert "unknown model 'nope'; declared: churn_clf, breakdown_clf" in bad_model.stderr
    assert len(bad_model.stderr.strip().splitlines()) == 1


def test_domains_lists_every_domain_its_landed_days_models_and_jobs(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_user_domains(monkeypatch)
    _sensor_day(settings, "2026-02-01")
    _sensor_day(settings, "2026-02-03")
    land(settings.landing, "2026-02-03", [reading("r")], source="reading")  # a typo

    listed = runner.invoke(app, ["domains"])

    assert listed.exit_code == 0, listed.output
    blocks = {block.split(":")[0]: block for block in
              listed.output.replace("\n  ", " | ").splitlines()}
    assert blocks.keys() == {"churn", "fleet", "sensors", "landing"}
    assert blocks["landing"] == (
        "landing: reading/: no domain declares it: its 1 file(s) are not ingested")
    assert "landed:  2026-02-01 .. 2026-02-03 (2 days)" in blocks["sensors"]
    assert "landed:  none" in blocks["churn"] and "churn_clf_batch_score" in blocks["churn"]
    assert "models:  breakdown_clf" in blocks["fleet"]
    assert "breakdown_clf_train_validate_deploy" in blocks["fleet"]


def test_run_with_only_a_user_domains_files_runs_that_domain(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_user_domains(monkeypatch)
    for day in ("2026-02-01", "2026-02-02"):
        _sensor_day(settings, day)

    result = runner.invoke(app, ["run", "--start", "2020-01-01"])

    assert result.exit_code == 0, result.output + result.stderr
    assert "sensors: nothing landed before 2026-02-01; starting there, not at 2020-01-01" in (
        result.output)
    assert "sensors: sensors_daily_refresh over 2026-02-01 .. 2026-02-02" in result.output
    assert "churn" not in result.output.split("Tables")[0]  # nothing landed for churn
    catalog = Catalog(settings.root, settings.env)
    assert catalog.read("gold.hottest").height == 2
    assert not catalog.exists("bronze.events")


def test_run_leaves_out_a_day_folder_after_tomorrow_and_names_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped day (2099) would stretch the range and the daily partitions up to it."""
    declare_user_domains(monkeypatch)
    for day in ("2026-02-01", "2026-02-02", "2099-01-01"):
        _sensor_day(settings, day)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()

    result = runner.invoke(app, ["run", "--domain", "sensors"])

    assert result.exit_code == 0, result.output + result.stderr
    assert (f"sensors: left out, dated after {tomorrow} (tomorrow, UTC; a mistyped day?): "
            "readings/2099-01-01/: not ingested") in result.output.splitlines()
    assert "sensors: sensors_daily_refresh over 2026-02-01 .. 2026-02-02" in result.output
    manifest = Catalog(settings.root, settings.env).read("bronze.readings_manifest")
    assert sorted(manifest["path"]) == [f"readings/{d}/part-0.jsonl"
                                        for d in ("2026-02-01", "2026-02-02")]
    listed = runner.invoke(app, ["domains"]).output
    assert "landed:  2026-02-01 .. 2026-02-02 (2 days)" in listed
    assert "readings/2099-01-01/: not ingested" in listed


def test_daily_cycle_run_ingests_a_day_landed_today(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    declare_user_domains(monkeypatch)
    days = [(TODAY - timedelta(days=n)).isoformat() for n in (2, 1)]
    for day in days:
        _sensor_day(settings, day)
    first = runner.invoke(app, ["run"])
    assert first.exit_code == 0, first.output + first.stderr
    # a DAGSTER_HOME without dagster.yaml gets the project's, so its pools are active
    assert f"{home / 'dagster.yaml'}: none there; copied the project's dagster.yaml" in (
        first.output)
    assert (home / "dagster.yaml").read_text() == (ROOT / "dagster.yaml").read_text()
    _sensor_day(settings, TODAY.isoformat())  # the next day, landed today

    again = runner.invoke(app, ["run"])

    assert again.exit_code == 0, again.output + again.stderr
    assert "copied the project's dagster.yaml" not in again.output
    assert f"over {days[0]} .. {TODAY.isoformat()}" in again.output  # not clamped to yesterday
    catalog = Catalog(settings.root, settings.env)
    manifest = catalog.read("bronze.readings_manifest")
    assert sorted(manifest["path"]) == [f"readings/{d}/part-0.jsonl"
                                        for d in (*days, TODAY.isoformat())]
    assert catalog.read("gold.hottest")["day"].max() == TODAY
    instance = dg.DagsterInstance.get()
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    bronze = dg.AssetKey(["bronze", "readings"])
    assert TODAY.isoformat() in instance.get_materialized_partitions(bronze)
    (run,) = [r for r in instance.get_runs() if r.job_name == "sensors_daily_refresh"][:1]
    event = instance.get_latest_materialization_event(bronze)
    assert event is not None and event.run_id == run.run_id
    assert event.asset_materialization.metadata["files_ingested"].value == 1
    # each run names the process that executed it: what tells a run its killed process left
    # NOT_STARTED from a live one's (tests/test_dead_runs.py)
    assert {(r.tags[HOST], r.tags[PID]) for r in instance.get_runs()} == {
        (socket.gethostname(), str(os.getpid()))}


def test_a_failed_step_is_one_line_and_exit_1(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_user_domains(monkeypatch)
    _sensor_day(settings, "2026-02-01", celsius=120.0)  # the gold suite allows 100 at most

    result = runner.invoke(app, ["run", "--domain", "sensors"])

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("sensors_daily_refresh: step ") for line in lines)
    assert ("sensors_daily_refresh: step gold__hottest failed: DagsterAssetCheckFailedError: 1 "
            "blocking asset check failed with ERROR severity: gold/hottest: expectations") in lines
    assert "Traceback" not in result.output + result.stderr
    assert "Stack Trace" not in result.output + result.stderr
    json.dumps(lines)  # plain text


def test_a_broken_or_clashing_domain_package_is_one_line_naming_its_folder(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = tmp_path / "user_domains"
    (user / "broken").mkdir(parents=True)
    (user / "broken" / "__init__.py").write_text("import not_a_module_anywhere\n")
    monkeypatch.setattr(lakehouse_ml.domains, "__path__",
                        [*lakehouse_ml.domains.__path__, str(user)])

    broken = runner.invoke(app, ["domains"])

    assert broken.exit_code == 1
    (line,) = broken.stderr.strip().splitlines()
    assert line.endswith(f" domains: domain package left out: {user / 'broken'}: cannot be "
                         "imported: ModuleNotFoundError: No module named "
                         "'not_a_module_anywhere' (__init__.py, line 1)")
    assert broken.stdout.startswith("churn: ")  # the healthy domains are still listed
    (user / "broken" / "__init__.py").write_text("")  # repaired: declares nothing
    (user / "second").mkdir()
    (user / "second" / "__init__.py").write_text(
        "from lakehouse_ml.domains.churn import DOMAIN\n")  # a second `churn`

    clash = runner.invoke(app, ["run"])

    assert clash.exit_code == 1  # neither may write the other's tables: both are left out
    churn = Path(lakehouse_ml.domains.__path__[0]) / "churn"
    assert (f"{user / 'second'}: domain 'churn' is already declared in {churn}\n"
            in clash.stderr)
    assert f"{churn}: domain 'churn' is also declared in {user / 'second'}\n" in clash.stderr


def test_a_table_or_model_schema_two_domains_write_is_refused_naming_both_packages(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fleet = declare_user_domains(monkeypatch)
    (model,), declared = fleet.MODELS, fleet.DOMAIN
    churn = str(Path(lakehouse_ml.domains.__path__[0]) / "churn")
    where = str(PACKAGES / "fleet")
    clashes = {
        "source 'events' (bronze.events)": replace(fleet.DOMAIN, sources=(
            *fleet.DOMAIN.sources, replace(fleet.DOMAIN.sources[0], name="events"))),
        "aggregate 'customer_profile' (gold.customer_profile)": replace(
            fleet.DOMAIN, aggregates=(replace(fleet.DOMAIN.aggregates[0],
                                              name="customer_profile"),)),
        "training set 'churn.training_set' (churn.training_set)": replace(
            fleet.DOMAIN, training_set=replace(model.training_set, name="churn.training_set")),
    }
    monkeypatch.setattr(fleet, "MODELS", ())  # its model would train on another training set
    for clash, domain in clashes.items():
        monkeypatch.setattr(fleet, "DOMAIN", domain)
        listed = runner.invoke(app, ["domains"])
        assert listed.exit_code == 1, clash
        assert listed.stderr.strip().endswith(
            f" domains: domain package left out: {where}: {clash} is already declared by "
            f"domain 'churn' ({churn})")
    monkeypatch.setattr(fleet, "DOMAIN", declared)
    monkeypatch.setattr(fleet, "MODELS", (replace(model, schema="churn"),))

    assert [str(package) for package in discover().broken] == [
        f"{churn}: model 'churn_clf' (churn.predictions) is also declared by domain 'fleet' "
        f"({where})",
        f"{where}: model 'breakdown_clf' (churn.predictions) is already declared by domain "
        f"'churn' ({churn})"]
    with pytest.raises(DomainError, match=re.escape(
            f"{where}: model 'breakdown_clf' (churn.predictions) is already declared by "
            f"domain 'churn' ({churn})")):
        declarations()
    jobs = {job.name for job in domains().jobs or ()}  # Dagster: sensors only, still
    assert "sensors_daily_refresh" in jobs
    assert not {"churn_daily_refresh", "breakdown_clf_train_validate_deploy"} & jobs
    monkeypatch.setattr(fleet, "MODELS", (model,))
    assert list(declarations()) == ["churn", "fleet", "sensors"]


def test_run_with_nothing_landed_names_every_domain_and_its_sources(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare_user_domains(monkeypatch)
    _sensor_day(settings, "2026-02-01")
    land(settings.landing, "2026-02-01", [reading("r")], source="pingz")  # fleet's, misspelt

    nothing = runner.invoke(app, ["run", "--domain", "fleet"])
    outside = runner.invoke(app, ["run", "--start", "2026-03-01"])

    # said by `run` of any domain, before anything runs
    typo = "landing: pingz/: no domain declares it: its 1 file(s) are not ingested\n"
    assert nothing.stdout == outside.stdout.split("sensors:")[0] == typo
    assert nothing.exit_code == 1
    (line,) = nothing.stderr.strip().splitlines()
    assert f"no landed files under {settings.landing} for domain fleet (fleet: pings, " in line
    assert outside.exit_code == 1
    assert ("sensors: nothing landed from 2026-03-01 on (landed: 2026-02-01 .. 2026-02-01); "
            "not run") in outside.output
    assert "no landed files from 2026-03-01 on under " in outside.stderr
    assert "churn: customers, orders, events, tickets, churn_labels; fleet: pings, " in (
        outside.stderr)


def test_serve_endpoints_are_every_declared_model_or_the_chosen_ones(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse_ml.cli.serving import endpoints

    assert list(endpoints()) == ["churn_clf"]
    declare_user_domains(monkeypatch)

    assert list(endpoints()) == ["churn_clf", "breakdown_clf"]
    assert list(endpoints("fleet")) == ["breakdown_clf"]
    assert list(endpoints(None, "churn_clf")) == ["churn_clf"]
    assert endpoints("fleet", "breakdown_clf")["breakdown_clf"].schema == "fleet"


def test_serve_acts_for_one_domain_the_only_one_or_the_chosen_models(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` acts as one domain's serving principal: `--domain`, else `--model`'s domain,
    else the only declared one; with several and neither, a usage error listing them, before
    any server or grant (it served every model as the launching user)."""
    from lakehouse_ml.cli.serving import serving_domain

    assert serving_domain() == "churn"
    declare_user_domains(monkeypatch)

    assert serving_domain("fleet") == "fleet"
    assert serving_domain(None, "breakdown_clf") == "fleet"
    assert serving_domain(None, "churn_clf") == "churn"
    several = runner.invoke(app, ["serve"], prog_name="lakehouse-ml")
    assert several.exit_code == 2, several.output
    assert several.stderr.strip() == ("lakehouse-ml serve: 3 domains are declared (churn, "
                                      "fleet, sensors): choose one with --domain")
