"""A broken domain package (a syntax error, a failing import, an exception or a failed
validation at import, a declaration discovery refuses) is left out and reported, naming its
folder (and file and line) and the error; churn and the other healthy domains still load: in
discovery, in the Dagster code location (a failing sensor names the broken ones), and in
`lakehouse-ml domains` / `run`."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

import lakehouse_ml.domains
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.definitions import defs
from lakehouse_ml.defs.domains import BROKEN_SENSOR
from lakehouse_ml.domains import DomainError, declarations, declared_domains, discover
from tests.boundary_domain import land, reading
from tests.user_domains import declare_user_domains

BROKEN = Path(__file__).resolve().parent / "domain_packages" / "broken"
runner = CliRunner()


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The packages of tests/domain_packages/broken/, and one with a syntax error (written
    here: ruff checks the repository), on the search path; returns "<folder>: <why>" for each,
    in package-name order."""
    typo = tmp_path / "more_domains" / "typo"
    typo.mkdir(parents=True)
    (typo / "__init__.py").write_text('"""Never closed."""\n\nDOMAIN = dict(name="typo"\n')
    monkeypatch.setattr(lakehouse_ml.domains, "__path__",
                        [*lakehouse_ml.domains.__path__, str(BROKEN), str(typo.parent)])
    return [
        f"{BROKEN / 'bad_time_zone'}: cannot be imported: ValueError: aggregate 'mars_days': "
        "time_zone 'Mars/Olympus_Mons' is not an IANA time zone name such as 'UTC' or "
        "'America/New_York' (gold.py, line 7)",
        f"{BROKEN / 'orphan_model'}: model 'churn_clf' trains on churn.training_set, which "
        "domain 'orphan' does not declare (its training set: None)",
        f"{BROKEN / 'twice'}: feature table 'hottest' (gold.hottest) is declared twice: also "
        "as aggregate 'hottest'",
        f"{typo}: cannot be imported: SyntaxError: '(' was never closed (__init__.py, line 3)",
        f"{BROKEN / 'undefined_name'}: cannot be imported: NameError: name 'date' is not "
        "defined (__init__.py, line 6)",
    ]


def test_discovery_leaves_out_each_broken_package_naming_its_file_and_error(
    broken: list[str], caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.domains"):
        found = discover()

    assert list(found.declared) == ["churn"]
    assert [str(package) for package in found.broken] == broken
    assert f"domain package left out: {broken[3]}" in caplog.messages  # never silently
    assert [domain.name for domain in declared_domains()] == ["churn"]
    with pytest.raises(DomainError, match=re.escape("; ".join(broken))):
        declarations()  # the strict view: every package healthy, or the error


def test_the_code_location_loads_churn_and_a_failing_sensor_names_the_broken_packages(
    broken: list[str], settings: Settings,
) -> None:
    definitions = defs()  # the entry point `dagster dev` loads
    repository = definitions.get_repository_def()

    assert definitions.resolve_job_def("churn_daily_refresh").name == "churn_daily_refresh"
    assert {"churn_clf_train_validate_deploy", "churn_weekly_maintenance"} <= {
        job.name for job in repository.get_all_jobs()}
    sensor = definitions.resolve_sensor_def(BROKEN_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert all(reason in (sensor.description or "") for reason in broken)
    with dg.instance_for_test() as instance, pytest.raises(DomainError) as failed:
        sensor.evaluate_tick(dg.build_sensor_context(instance=instance,
                                                     repository_def=repository))
    assert str(failed.value) == ("5 domain package(s) left out of this code location (repair "
                                 f"them and reload): {'; '.join(broken)}")


def test_a_healthy_location_has_no_broken_packages_sensor(settings: Settings) -> None:
    definitions = defs()
    assert BROKEN_SENSOR not in {sensor.name for sensor in definitions.sensors or ()}
    assert definitions.resolve_job_def("churn_daily_refresh")


def test_cli_domains_lists_the_healthy_and_says_each_broken_package_in_one_line(
    broken: list[str], settings: Settings,
) -> None:
    listed = runner.invoke(app, ["domains"])

    assert listed.exit_code == 1
    assert listed.stdout.startswith("churn: ")
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == len(broken)
    for line, reason in zip(lines, broken, strict=True):
        assert line.endswith(f" domains: domain package left out: {reason}")


def test_run_runs_a_healthy_domain_beside_broken_packages_and_says_what_it_left_out(
    broken: list[str], settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    declare_user_domains(monkeypatch)
    land(settings.landing, "2026-02-01", [reading("r-1", at="2026-02-01T01:00:00Z")])

    chosen = runner.invoke(app, ["run", "--domain", "sensors"])
    unknown = runner.invoke(app, ["run", "--domain", "typo"])
    every = runner.invoke(app, ["run"])

    assert chosen.exit_code == 0, chosen.output + chosen.stderr
    assert "sensors: sensors_daily_refresh over 2026-02-01 .. 2026-02-01" in chosen.output
    assert [line.split("domain package left out: ", 1)[1]
            for line in chosen.stderr.strip().splitlines()] == broken
    assert Catalog(settings.root, settings.env).read("gold.hottest").height == 1
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().splitlines()[-1].endswith(
        f" run: unknown domain 'typo'; declared: churn, fleet, sensors; left out as broken: "
        f"{'; '.join(broken)}")
    assert every.exit_code == 1, "a domain meant to run was left out"
    assert "sensors: sensors_daily_refresh over 2026-02-01 .. 2026-02-01" in every.output
