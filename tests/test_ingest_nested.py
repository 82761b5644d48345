"""Nested values (array or object) of declared columns on real Delta tables: kept as JSON text in
bronze, refused by the contract with a reason, while a string that merely looks like JSON is
accepted (issue 9, item 2)."""

from __future__ import annotations

import json

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.ingest.bronze import LINEAGE
from lakehouse_ml.ingest.landing import RESCUED
from tests.test_ingest_bronze import DAY, EVENTS, balance, land, refresh
from tests.test_ingest_landing import ev, jl

NESTED_REASON = "session_id: a nested value (array or object), got "


def test_nested_values_of_a_string_column_are_quarantined_and_json_looking_text_is_kept(
    settings: Settings, catalog: Catalog
) -> None:
    long_list = list(range(100))
    land(settings, f"events/{DAY}/a.json", jl(
        ev(1, session_id={"a": 1}), ev(2, session_id=[1, 2]), ev(3, session_id='{"a":1}'),
        ev(4, session_id="[1, 2]"), ev(5), ev(6, session_id=long_list)))
    refresh(catalog, settings)
    silver = catalog.read("silver.events").sort("event_id")
    assert silver.select("event_id", "session_id").rows() == [
        ("e-3", '{"a":1}'), ("e-4", "[1, 2]"), ("e-5", "s")]
    quarantine = catalog.read("silver.events_quarantine").sort("event_id")
    assert quarantine["event_id"].to_list() == ["e-1", "e-2", "e-6"]
    assert quarantine["session_id"].to_list() == ['{"a": 1}', "[1, 2]", json.dumps(long_list)]
    assert quarantine["_reasons"].to_list() == [
        [NESTED_REASON + '{"a": 1}'], [NESTED_REASON + "[1, 2]"],
        [NESTED_REASON + json.dumps(long_list)[:64]]]
    assert balance(catalog) | {"batch_id": DAY} == {
        "batch_id": DAY, "landed": 6, "parse_rejected": 0, "quarantined": 3, "in_silver": 3,
        "collapsed": 0, "lost": 0, "balanced": True}


def test_a_nested_value_of_a_typed_column_is_reported_once_as_nested(
    settings: Settings, catalog: Catalog
) -> None:
    land(settings, f"events/{DAY}/a.json", jl(ev(1, customer_id=[1, 2]), ev(2)))
    refresh(catalog, settings)
    quarantine = catalog.read("silver.events_quarantine")
    assert quarantine["_reasons"].to_list() == [
        ["customer_id: a nested value (array or object), got [1, 2]"]]
    assert catalog.read("silver.events")["event_id"].to_list() == ["e-2"]


def test_bronze_and_quarantine_tables_made_before_nested_columns_are_recorded_still_work(
    settings: Settings, catalog: Catalog
) -> None:
    old = pl.Schema({**dict.fromkeys(EVENTS.schema, pl.String), RESCUED: pl.String, **LINEAGE})
    catalog.create_table(EVENTS.bronze_table, old, TableInfo(owner=EVENTS.owner, comment="old"))
    catalog.create_table(EVENTS.quarantine_table,
                         pl.Schema({**old, "_reasons": pl.List(pl.String)}),
                         TableInfo(owner=EVENTS.owner, comment="old"))
    land(settings, f"events/{DAY}/a.json", jl(ev(1, session_id={"a": 1}), ev(2)))
    refresh(catalog, settings)
    assert catalog.read("silver.events")["event_id"].to_list() == ["e-2"]
    assert catalog.read("silver.events_quarantine")["event_id"].to_list() == ["e-1"]
    assert balance(catalog)["balanced"]


def test_a_number_or_boolean_in_a_string_column_is_quarantined_not_read_as_text(
    settings: Settings, catalog: Catalog
) -> None:
    """Stranger 11b #8: `{"session_id": 123}` became silver "123". The same reason whether
    polars reads the file whole (a.json) or `json` line by line (b.json holds a nested value);
    a string where a number is declared is read as its text (as CSV is: JSON has no NaN), and a
    fraction in an integer column is refused by the cast."""
    land(settings, f"events/{DAY}/a.json", jl(
        ev(1, session_id=123), ev(2, session_id=True), ev(3, session_id=-1.5e3), ev(4),
        ev(5, customer_id="7"), ev(6, customer_id=1.5)))
    land(settings, f"events/{DAY}/b.json", jl(ev(7, session_id=False), ev(8, tags=[1])))
    refresh(catalog, settings)
    quarantine = catalog.read("silver.events_quarantine").sort("event_id")
    assert quarantine.select("event_id", "_reasons").rows() == [
        ("e-1", ["session_id: expected a string, got number 123"]),
        ("e-2", ["session_id: expected a string, got boolean true"]),
        ("e-3", ["session_id: expected a string, got number -1500.0"]),
        ("e-6", ["customer_id: cannot read 1.5 as Int64"]),
        ("e-7", ["session_id: expected a string, got boolean false"])]
    silver = catalog.read("silver.events").sort("event_id")
    assert silver.select("event_id", "customer_id").rows() == [("e-4", 1), ("e-5", 7), ("e-8", 1)]
