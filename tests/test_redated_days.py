"""Customer records that move a key's snapshots by their effective date (`signup_date`), not by
their event time (`updated_at`): `medallion.changes.redated_days`, and which feature tables
count them (`progress.current_sources`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.changes import earliest_touched_day, redated_days
from lakehouse_ml.medallion.progress import current_sources
from lakehouse_ml.medallion.silver import refine

CUSTOMERS = DOMAIN.source("customers")
HEADER = "customer_id,email,country,plan_tier,tenant_id,signup_date,updated_at\n"
DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]


def _land(settings: Settings, day: str, *lines: str) -> None:
    path = Path(settings.landing) / "customers" / day / "a.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(line + "\n" for line in lines))


def _line(key: int | str, signup: str, updated: str, country: str = "US") -> str:
    return f"{key},u{key}@example.com,{country},basic,t-01,{signup},{updated}T05:00:00Z"


def _refresh(catalog: Catalog, settings: Settings, day: str) -> None:
    ingest(catalog, CUSTOMERS, str(settings.landing), [day])
    refine(catalog, CUSTOMERS, [day])


def test_a_key_first_valid_or_given_another_signup_redoes_from_its_earliest_signup(
    settings: Settings, catalog: Catalog
) -> None:
    _land(settings, DAYS[0],
          _line(1, "2025-06-01", DAYS[0]),  # re-sent on day 2 with the same signup
          _line(2, "2025-07-01", DAYS[0]),  # re-sent on day 2 with a later signup
          _line(3, "2025-08-01", DAYS[0], country="not-a-country"),  # quarantined
          _line(4, "2025-09-01", DAYS[0]))
    _land(settings, DAYS[1],
          _line(1, "2025-06-01", DAYS[1]),
          _line(2, "2026-02-20", DAYS[1]),
          _line(3, "2025-08-01", DAYS[1]),  # first valid: known from its signup on
          _line(5, "2025-05-01", DAYS[1], country="not-a-country"))  # invalid: no change
    _land(settings, DAYS[2], _line(1, "2025-06-01", DAYS[2]), _line(6, DAYS[2], DAYS[2]))
    for day in DAYS:
        _refresh(catalog, settings, day)
    assert catalog.read(CUSTOMERS.quarantine_table).height == 2

    # key 2 left its old signup (the earlier of its two), key 3 arrived at its own
    assert redated_days(catalog, CUSTOMERS, DAYS[1:2], ["UTC"]) == [date(2025, 7, 1)]
    # a plan change re-sends the same signup: nothing moves; a new signup: its own day
    assert redated_days(catalog, CUSTOMERS, DAYS[2:], ["UTC"]) == [date(2026, 3, 3)]
    # the first batch, as if it landed after the later ones: it holds no key's latest version
    # but key 4's, which is first known there (keys 1 and 2: current versions unchanged)
    assert redated_days(catalog, CUSTOMERS, DAYS[:1], ["UTC"]) == [date(2025, 9, 1)]
    assert earliest_touched_day(catalog, DOMAIN, DAYS[1:2], {"customers"}) == date(2025, 7, 1)
    # a table reading the customers' versions as of each snapshot (the profile) counts the
    # records from their event time only
    assert earliest_touched_day(catalog, DOMAIN, DAYS[1:2], {"customers"}, set()) == date(
        2026, 3, 2)


def test_a_signup_moved_back_to_an_earlier_one_redoes_from_it(
    settings: Settings, catalog: Catalog
) -> None:
    # first known, moved later, moved back to the first: each redoes from 2025-06-01
    for day, signup in zip(DAYS, ("2025-06-01", "2026-02-01", "2025-06-01"), strict=True):
        _land(settings, day, _line(1, signup, day))
        _refresh(catalog, settings, day)
        assert redated_days(catalog, CUSTOMERS, [day], ["UTC"]) == [date(2025, 6, 1)], day
    # an older version landing late changes no current version
    _land(settings, "2026-03-04", _line(1, "2024-01-01", "2026-02-27"))
    _refresh(catalog, settings, "2026-03-04")
    assert redated_days(catalog, CUSTOMERS, ["2026-03-04"], ["UTC"]) == []


def test_a_source_without_effective_dates_has_none(settings: Settings, catalog: Catalog
                                                   ) -> None:
    _land(settings, DAYS[0], _line(1, "2025-06-01", DAYS[0]))
    _refresh(catalog, settings, DAYS[0])
    events = DOMAIN.source("events")
    assert events.effective_dates == ()
    assert redated_days(catalog, events, DAYS[:1], ["UTC"]) == []
    assert redated_days(catalog, CUSTOMERS, ["2026-04-01"], ["UTC"]) == []


def test_no_bronze_table_yet_has_none(catalog: Catalog) -> None:
    assert not catalog.exists(CUSTOMERS.bronze_table)
    assert redated_days(catalog, CUSTOMERS, DAYS[:1], ["UTC"]) == []


def test_current_sources_are_those_read_as_current_versions() -> None:
    tables = {spec.table.split(".")[1]: spec.table for spec in DOMAIN.feature_tables}
    assert current_sources(DOMAIN, tables["customer_profile"]) == set()  # bronze versions
    assert "customers" in current_sources(DOMAIN, tables["customer_engagement"])
    assert current_sources(DOMAIN, tables["customer_support"]) == {"customers", "tickets"}
    assert current_sources(DOMAIN, "silver.customers") == {"customers"}
    for aggregate in DOMAIN.aggregates:  # an aggregate reads its inputs' silver tables
        assert current_sources(DOMAIN, aggregate.table) == set(aggregate.inputs) != set()


@pytest.mark.parametrize("kept", ["2025-06-01", "2024-12-01"])
def test_a_relanded_file_counts_the_dates_its_earlier_content_left(
    settings: Settings, catalog: Catalog, kept: str
) -> None:
    """Key 7 moves from 2025-01-01 to 2026-02-25 in the new content of the same file: its
    snapshots from its old signup on go. Key 8 keeps its signup, after key 7's old one (without
    the content's earlier dates both looked first known, from 2025-06-01 only) or before it
    (an unchanged key does not count)."""
    for signup in ("2025-01-01", "2026-02-25"):
        _land(settings, DAYS[0], _line(7, signup, DAYS[0]), _line(8, kept, DAYS[0]))
        _refresh(catalog, settings, DAYS[0])
    assert sorted(catalog.read(CUSTOMERS.silver_table)["signup_date"].to_list()) == sorted(
        [date.fromisoformat(kept), date(2026, 2, 25)])
    assert redated_days(catalog, CUSTOMERS, DAYS[:1], ["UTC"]) == [date(2025, 1, 1)]


def test_versions_tied_at_the_latest_with_other_dates_count_as_changed(
    settings: Settings, catalog: Catalog
) -> None:
    # two versions at one updated_at: which one silver holds is decided by landing order
    _land(settings, DAYS[0], _line(1, "2025-06-01", DAYS[0]), _line(1, "2025-08-01", DAYS[0]))
    _refresh(catalog, settings, DAYS[0])
    # a third at the same updated_at, with one of the two dates: the same dates before and
    # after, but the one held may change: re-dated from the earliest of them
    _land(settings, DAYS[1], _line(1, "2025-06-01", DAYS[0]))
    _refresh(catalog, settings, DAYS[1])
    assert redated_days(catalog, CUSTOMERS, DAYS[1:2], ["UTC"]) == [date(2025, 6, 1)]
