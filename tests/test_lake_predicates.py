"""Predicates the engine builds name columns by quoted identifiers: keys and time columns
with spaces, hyphens, leading digits, mixed case, reserved words or quotes work in MERGE,
replaceWhere and delete on real Delta tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.lake import Lake
from lakehouse_ml.lake.predicates import between, identifier, in_list, later_or_same

NAMES = ["customer id", "Customer-ID", "1d", "select", "order", "MixedCase", 'say "hi"']


def _day(d: int) -> datetime:
    return datetime(2026, 1, d, tzinfo=UTC)


def test_identifiers_are_quoted_and_qualified() -> None:
    assert identifier("customer id") == '"customer id"'
    assert identifier('say "hi"', "t") == 't."say ""hi"""'
    assert in_list("order", ["b", "a'"]) == """"order" IN ('a''', 'b')"""
    assert between("1d", 1, 2, alias="t") == """t."1d" >= '1' AND t."1d" <= '2'"""
    assert later_or_same(["a b", "c"]) == (
        '(s."a b" > t."a b") OR (t."a b" = s."a b" AND s."c" > t."c") '
        'OR (t."a b" = s."a b" AND t."c" = s."c")'
    )


@pytest.mark.parametrize("key", NAMES)
def test_merge_replace_where_and_delete_with_awkward_names(tmp_path: Path, key: str) -> None:
    lake, uri, ts = Lake(), str(tmp_path / "t"), f"{key} ts"
    lake.create(uri, pl.Schema({key: pl.Int64, ts: pl.Datetime("us", "UTC"), "v": pl.Float64}),
                name="t")
    lake.append(uri, pl.DataFrame({key: [1, 2], ts: [_day(1)] * 2, "v": [1.0, 2.0]}), label="t")
    incoming = pl.DataFrame({key: [1, 3], ts: [_day(1), _day(2)], "v": [9.0, 3.0]})
    lake.merge(uri, incoming, label="t", keys=[key, ts], update_when=later_or_same(["v"]),
               target_filter=between(ts, _day(1).isoformat(), _day(2).isoformat(), alias="t"))
    assert sorted(lake.read(uri).rows()) == [(1, _day(1), 9.0), (2, _day(1), 2.0),
                                             (3, _day(2), 3.0)]
    lake.overwrite(uri, pl.DataFrame({key: [2], ts: [_day(1)], "v": [5.0]}), label="t",
                   predicate=in_list(key, [2]))
    lake.delete(uri, in_list(key, [3]))
    assert sorted(lake.read(uri).rows()) == [(1, _day(1), 9.0), (2, _day(1), 5.0)]


@pytest.mark.parametrize("key", ["customer id", "Customer-ID", "1d", "order"])
def test_feature_table_second_write_upserts(settings: object, key: str) -> None:
    fe, ts = FeatureEngineeringClient(), "snapshot ts"
    fe.create_table("gold.awkward", primary_keys=[key], timeseries_column=ts,
                    df=pl.DataFrame({key: [1, 2], ts: [_day(1)] * 2, "v": [1.0, 2.0]}))
    fe.write_table("gold.awkward", pl.DataFrame({key: [1, 3], ts: [_day(1), _day(2)],
                                                 "v": [9.0, 3.0]}))
    assert sorted(fe.read_table("gold.awkward").rows()) == [
        (1, _day(1), 9.0), (2, _day(1), 2.0), (3, _day(2), 3.0)]


def test_an_or_in_the_target_filter_only_widens_the_files_read(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, pl.Schema({"k": pl.Int64, "ts": pl.Datetime("us", "UTC"), "v": pl.Float64}),
                name="t")
    lake.append(uri, pl.DataFrame({"k": [1, 2], "ts": [_day(1)] * 2, "v": [1.0, 2.0]}), label="t")
    widened = (between("ts", _day(3).isoformat(), _day(3).isoformat(), alias="t") + " OR "
               + in_list("ts", [_day(1).isoformat()], alias="t"))
    lake.merge(uri, pl.DataFrame({"k": [1, 3], "ts": [_day(3)] * 2, "v": [9.0, 3.0]}),
               label="t", keys=["k"], target_filter=widened)
    assert sorted(lake.read(uri).rows()) == [(1, _day(3), 9.0), (2, _day(1), 2.0),
                                             (3, _day(3), 3.0)]
