"""`lakehouse-ml generate`: options that cannot work are refused up front in one line naming
the option, and `--next-day` continues the landed demo with the day after its last landed day,
up to today, never a day that has not started (issue 11 item 6; stranger finding 7)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.generator import (
    MIN_LABEL_TIMES,
    MIN_TRAINABLE_DAYS,
    PARAMS_FILE,
    SOURCES,
    generate,
)

runner = CliRunner()
START = date(2026, 3, 1)


def invoke(*args: str):
    return runner.invoke(app, ["generate", *args], prog_name="lakehouse-ml")


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def day_folders(landing: Path) -> set[str]:
    return {p.name for source in SOURCES if (landing / source).is_dir()
            for p in (landing / source).iterdir()}


def label_times(landing: Path) -> set[str]:
    return {json.loads(line)["label_timestamp"]
            for path in (landing / "churn_labels").rglob("*.json")
            for line in path.read_text().splitlines()}


def test_the_minimum_days_is_the_first_window_with_labels_to_train_on(tmp_path: Path) -> None:
    """Training needs labels of MIN_LABEL_TIMES times: the minimum holds them, a day less
    does not (checked on the files, not on the formula)."""
    generate(tmp_path / "short", customers=40, days=MIN_TRAINABLE_DAYS - 1, start=START,
             progress=False)
    generate(tmp_path / "enough", customers=40, days=MIN_TRAINABLE_DAYS, start=START,
             progress=False)
    assert len(label_times(tmp_path / "short")) == MIN_LABEL_TIMES - 1
    assert len(label_times(tmp_path / "enough")) == MIN_LABEL_TIMES


@pytest.mark.parametrize("days", ["30", "50", str(MIN_TRAINABLE_DAYS - 1)])
def test_too_few_days_to_train_on_is_refused_naming_days_and_the_minimum(
    settings: Settings, days: str
) -> None:
    line = one_line_error(invoke("--customers", "20", "--days", days), 2)
    assert "'--days'" in line and f"{days} is too short" in line
    assert f"at least {MIN_TRAINABLE_DAYS} days" in line
    assert not Path(settings.landing).exists()


BAD = [  # arguments, option named, words of the reason
    (["--start", "2026-02-30"], "--start", ["2026-02-30"]),
    (["--start", "30.02.2026"], "--start", ["30.02.2026"]),
    (["--customers", "0"], "--customers", ["at least 1 (got 0)"]),
    (["--customers", "-4"], "--customers", ["at least 1 (got -4)"]),
    (["--dirty-fraction", "1.5"], "--dirty-fraction", ["between 0 and 1 (got 1.5)"]),
    (["--dirty-fraction", "-0.1"], "--dirty-fraction", ["between 0 and 1 (got -0.1)"]),
    (["--dirty-fraction", "nan"], "--dirty-fraction", ["between 0 and 1 (got nan)"]),
    (["--start", "2026-03-01", "--drift-from", "2026-02-28"], "--drift-from",
     ["2026-02-28 is outside the generated days 2026-03-01 .. 2026-04-28"]),
    (["--start", "2026-03-01", "--drift-from", "2026-04-29"], "--drift-from",
     ["2026-04-29 is outside"]),
    (["--drift-from", "2026-04-31"], "--drift-from", ["2026-04-31"]),
    (["--next-day", "--days", "80"], "--days", ["cannot be combined with --next-day"]),
    (["--next-day", "--seed", "3"], "--seed", ["cannot be combined with --next-day"]),
]


@pytest.mark.parametrize(("args", "option", "words"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_an_option_that_cannot_work_is_a_one_line_usage_error_naming_it(
    settings: Settings, args: list[str], option: str, words: list[str]
) -> None:
    days = [] if "--next-day" in args else ["--days", str(MIN_TRAINABLE_DAYS)]
    line = one_line_error(invoke(*days, *args), 2)
    assert line.startswith("lakehouse-ml generate: ") and f"'{option}'" in line, line
    assert all(word in line for word in words), line
    assert not Path(settings.landing).exists()


def test_the_bounds_themselves_are_accepted(settings: Settings) -> None:
    result = invoke("--customers", "1", "--days", str(MIN_TRAINABLE_DAYS), "--start",
                    "2026-03-01", "--dirty-fraction", "1", "--drift-from", "2026-04-28")
    assert result.exit_code == 0, result.output
    assert "2026-03-01 .. 2026-04-28" in result.stdout


def test_next_day_without_demo_data_is_refused(settings: Settings) -> None:
    landing = Path(settings.landing)
    assert "has no demo data yet" in one_line_error(invoke("--next-day"), 1)
    (landing / "events" / "2026-03-01").mkdir(parents=True)  # the user's own files only
    (landing / "events" / "2026-03-01" / "part-0.json").write_text("{}\n")
    assert "has no demo data yet" in one_line_error(invoke("--next-day"), 1)
    assert day_folders(landing) == {"2026-03-01"}


def test_next_day_writes_the_day_after_the_last_landed_one_for_a_past_window(
    settings: Settings,
) -> None:
    landing = Path(settings.landing)
    generate(landing, customers=40, days=5, start=START, progress=False)
    for k in (5, 6):
        result = invoke("--next-day")
        assert result.exit_code == 0, result.output
        new_day = (START + timedelta(days=k)).isoformat()
        assert f"for {new_day} .. {new_day}" in result.stdout
        assert max(day_folders(landing)) == new_day
        written = {p for s in SOURCES for p in (landing / s).glob(f"{new_day}/*")}
        assert {p.parent.parent.name for p in written} >= {"events", "orders"}
    assert json.loads((landing / PARAMS_FILE).read_text())["days"] == 7


def test_next_day_after_the_default_window_is_today_then_not_before_tomorrow(
    settings: Settings,
) -> None:
    """The default window ends yesterday: the next day is today; called again the same day,
    tomorrow is refused in one line saying when it can be generated (landed now, its rows
    would be in the future and partly quarantined), and nothing is written."""
    landing = Path(settings.landing)
    today = datetime.now(UTC).date()
    generate(landing, customers=20, days=3, progress=False)
    assert invoke("--next-day").exit_code == 0
    assert max(day_folders(landing)) == today.isoformat()
    before = {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()}

    line = one_line_error(invoke("--next-day"), 1)

    tomorrow = today + timedelta(days=1)
    assert line == (f"lakehouse-ml generate: the next demo day {tomorrow} has not started yet "
                    f"(today is {today}, UTC): it can be generated from {tomorrow} 00:00 UTC on "
                    "(landed now, its rows would be in the future, and silver quarantines "
                    "event times more than a day after their ingestion)")
    assert {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()} == before


def test_next_day_never_overwrites_a_landed_day(settings: Settings) -> None:
    """A later window landed by another call (the parameters file describes the earlier
    one): the next day of the parameters is already landed, so nothing is written."""
    landing = Path(settings.landing)
    generate(landing, customers=20, days=4, start=START + timedelta(days=10), progress=False)
    generate(landing, customers=20, days=4, start=START, progress=False)
    before = {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()}
    line = one_line_error(invoke("--next-day"), 1)
    assert "already holds demo files of 2026-03-14" in line and "2026-03-05" in line
    assert {p: p.read_bytes() for p in landing.rglob("*") if p.is_file()} == before


def test_the_readme_states_the_minimum_days() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"`--days` below {MIN_TRAINABLE_DAYS} (labels are" in readme
