"""The stored training set (`features.training_table`) that `make mutation` (issue 8) mutated:
what it pins, when it writes a new version, which rows its population keeps, and what its
leakage check says. Real Delta tables in a temporary lakehouse, no Dagster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.training_table import (
    build_training_set,
    leakage,
    leakage_verdict,
    pinned_versions,
    rebuild_training_set,
    write_training_set,
)
from lakehouse_ml.medallion.spec import TrainingSetSpec

T0 = datetime(2026, 3, 1, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")
SPEC = TrainingSetSpec("ml.set", "Labels with spend.", "silver.labels", "churned", "t",
                       (FeatureLookup("gold.spend", "cid", "t"),))


def features(fe: FeatureEngineeringClient, rows: dict[int, float], at: datetime = T0) -> None:
    frame = pl.DataFrame({"cid": list(rows), "ts": [at] * len(rows), "spend": list(rows.values())},
                         schema={"cid": pl.Int64, "ts": UTC_US, "spend": pl.Float64})
    if fe.catalog.exists("gold.spend"):
        fe.write_table("gold.spend", frame)
    else:
        fe.create_table("gold.spend", "cid", timeseries_column="ts", df=frame)


def labels(catalog: Catalog, cids: list[int], tier: list[str | None] | None = None) -> None:
    frame = pl.DataFrame({"cid": cids, "t": [T0 + timedelta(days=1)] * len(cids),
                          "churned": [c % 2 == 0 for c in cids],
                          "tier": tier or ["pro"] * len(cids)},
                         schema={"cid": pl.Int64, "t": UTC_US, "churned": pl.Boolean,
                                 "tier": pl.String})
    catalog.create_table(SPEC.labels, frame.schema, TableInfo(owner="team:ml"))
    catalog.append(SPEC.labels, frame)


def test_the_stored_set_pins_every_table_it_read_and_is_rebuilt_from_them(
    fe: FeatureEngineeringClient, catalog: Catalog
) -> None:
    """The table's tags hold the Delta version of the labels and of each feature table; after
    new feature rows and new labels, `rebuild_training_set` gives the stored frame again, while
    building at the current versions gives the new data."""
    features(fe, {1: 10.0, 2: 20.0})
    labels(catalog, [1, 2])
    built = write_training_set(fe, SPEC)
    read = {"silver.labels": catalog.version("silver.labels"),
            "gold.spend": catalog.version("gold.spend")}
    assert built.versions == pinned_versions(fe, SPEC) == {
        str(catalog.name(n)): v for n, v in read.items()}
    assert catalog.read(SPEC.name).sort("cid")["spend"].to_list() == [10.0, 20.0]
    info = catalog.describe(SPEC.name).info  # its owner's grants decide who may read it
    assert (info.owner, info.comment) == (SPEC.owner, SPEC.description)

    features(fe, {1: 11.0, 2: 21.0}, T0 + timedelta(hours=1))
    catalog.append(SPEC.labels, catalog.read(SPEC.labels).with_columns(
        cid=pl.col("cid") + 2))
    again = rebuild_training_set(fe, SPEC)
    assert again.equals(catalog.read(SPEC.name))
    _, versions, now = build_training_set(fe, SPEC)
    assert versions[str(catalog.name("gold.spend"))] == read["gold.spend"] + 1
    assert now.sort("cid")["spend"].to_list() == [11.0, 21.0, None, None]


def test_a_set_is_written_again_only_when_its_data_changed(
    fe: FeatureEngineeringClient, catalog: Catalog
) -> None:
    """Unchanged pinned versions and rows: no new Delta version (a retrain would otherwise
    look trained on other data); a new feature row: a new version, re-pinned."""
    features(fe, {1: 10.0})
    labels(catalog, [1])
    first = write_training_set(fe, SPEC).table_version
    assert write_training_set(fe, SPEC).table_version == first == catalog.version(SPEC.name)
    features(fe, {1: 12.0}, T0 + timedelta(hours=2))
    second = write_training_set(fe, SPEC)
    assert second.table_version == first + 1
    assert pinned_versions(fe, SPEC)[str(catalog.name("gold.spend"))] == catalog.version(
        "gold.spend")
    assert catalog.read(SPEC.name)["spend"].to_list() == [12.0]


def test_a_feature_added_to_the_spec_adds_its_column_to_the_stored_set(
    fe: FeatureEngineeringClient, catalog: Catalog
) -> None:
    """The stored set's schema follows its declaration: a lookup added later is a new column
    (the overwrite evolves the table), not a schema error."""
    features(fe, {1: 10.0})
    fe.create_table("gold.plan", "cid", df=pl.DataFrame({"cid": [1], "seats": [3]}))
    labels(catalog, [1])
    write_training_set(fe, SPEC)
    wider = TrainingSetSpec(SPEC.name, SPEC.description, SPEC.labels, SPEC.label, "t",
                            (*SPEC.feature_lookups, FeatureLookup("gold.plan", "cid")))
    write_training_set(fe, wider)
    assert catalog.read(SPEC.name).select("cid", "spend", "seats").rows() == [(1, 10.0, 3)]


def test_labels_without_the_declared_label_column_are_refused_by_name(
    fe: FeatureEngineeringClient, catalog: Catalog
) -> None:
    features(fe, {1: 10.0})
    labels(catalog, [1])
    spec = TrainingSetSpec(SPEC.name, SPEC.description, SPEC.labels, "retained", "t",
                           SPEC.feature_lookups)
    with pytest.raises(FeatureStoreError, match="label column 'retained' is not in the rows"):
        write_training_set(fe, spec)


def test_the_population_keeps_its_rows_and_their_matches_together(
    fe: FeatureEngineeringClient, catalog: Catalog
) -> None:
    """Rows where the population is false or null are left out of the frame and of every
    lookup's matches, and counted; what is missing and what leaks is reckoned over the kept
    rows only (cid 3 is kept and has no feature row)."""
    features(fe, {1: 10.0, 2: 20.0})
    labels(catalog, [1, 2, 3, 4], tier=["pro", "basic", "pro", None])
    spec = TrainingSetSpec(SPEC.name, SPEC.description, SPEC.labels, SPEC.label, "t",
                           SPEC.feature_lookups, population=pl.col("tier") == "pro")
    built = write_training_set(fe, spec)
    assert built.frame["cid"].to_list() == [1, 3]
    assert built.outside_population == 2
    (match,) = built.matches
    assert match.matched.to_list() == [True, False]
    assert match.matched_at is not None and match.matched_at.to_list() == [T0, None]
    assert (built.missing.rows, built.missing.in_every_lookup) == (2, 1)
    assert leakage(built.frame, spec, built.matches).rows() == [
        ("lookup 1 on " + str(catalog.name("gold.spend")), 0, 1, 2)]
    assert build_training_set(fe, spec)[2].equals(built.frame)


def test_labels_are_read_in_key_order_without_their_lineage_columns(
    fe: FeatureEngineeringClient, catalog: Catalog
) -> None:
    """Label rows stored by two writes out of key order come in (key, time) order, whatever
    the label, so the same versions give the same frame; silver's `_`-prefixed lineage columns
    are not features."""
    features(fe, {1: 10.0, 2: 20.0, 3: 30.0})
    schema = {"cid": pl.Int64, "t": UTC_US, "churned": pl.Boolean, "_batch_id": pl.String,
              "_line": pl.Int64}
    catalog.create_table(SPEC.labels, pl.Schema(schema), TableInfo(owner="team:ml"))
    for cids, batch in (([3, 1], "b2"), ([2], "b1")):
        catalog.append(SPEC.labels, pl.DataFrame(
            {"cid": cids, "t": [T0 + timedelta(days=1)] * len(cids),
             "churned": [c == 2 for c in cids], "_batch_id": [batch] * len(cids),
             "_line": list(range(1, len(cids) + 1))}, schema=schema))
    frame = build_training_set(fe, SPEC)[2]
    assert frame.columns == ["cid", "t", "churned", "spend"]
    assert frame["cid"].to_list() == [1, 2, 3]


def test_a_lookup_on_a_table_without_time_reports_nothing_compared(
    fe: FeatureEngineeringClient, catalog: Catalog
) -> None:
    """A feature table without timeseries column has no feature time: its row of the leakage
    report is null where a count would claim it was compared, and the columns keep their types
    (the report of a set with no time source at all is empty, not untyped)."""
    fe.create_table("gold.plan", "cid", df=pl.DataFrame({"cid": [1, 2], "seats": [3, 4]}))
    labels(catalog, [1, 2])
    spec = TrainingSetSpec(SPEC.name, SPEC.description, SPEC.labels, SPEC.label, "t",
                           (FeatureLookup("gold.plan", "cid"),), exclude_columns=("tier",),
                           population=pl.col("cid") > 0)
    built = write_training_set(fe, spec)
    assert built.frame.columns == ["cid", "t", "churned", "seats"]  # `tier` excluded
    found = leakage(built.frame, spec, built.matches)
    assert found.rows() == [(f"lookup 1 on {catalog.name('gold.plan')}", None, None, 2)]
    schema = {"source": pl.String, "later_than_label": pl.Int64, "matched": pl.Int64,
              "rows": pl.Int64}
    assert found.schema == pl.Schema(schema)
    assert leakage(built.frame, spec, []).schema == pl.Schema(schema)


def report(*rows: tuple[str, int | None, int | None, int]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"source": pl.String, "later_than_label": pl.Int64,
                                      "matched": pl.Int64, "rows": pl.Int64}, orient="row")


@pytest.mark.parametrize(("rows", "verdict"), [
    ([("a", 0, 3, 3), ("b", 0, 1, 3)], None),
    ([("a", 0, 3, 3), ("b", 1, 1, 3), ("c", 2, 2, 3)],
     "feature rows later than their label time: b (1 rows), c (2 rows)"),
    ([], "no lookup returns a feature time: there is nothing to check"),
    ([("a", 0, 0, 0)], "the training set has no rows: there is no feature time to check"),
    ([("a", 0, 2, 2), ("b", None, None, 2)],
     "b: the table has no timeseries column, so the time of its feature rows cannot be checked "
     "against the label time"),
    ([("a", None, None, 2), ("b", 0, 2, 2), ("c", None, None, 2)],
     "a, c: the table has no timeseries column, so the time of its feature rows cannot be "
     "checked against the label time"),
    ([("a", 0, 0, 2), ("b", 0, 0, 2)],
     "no row matched any feature row: there is no feature time to check"),
], ids=["passes", "later", "no_source", "no_rows", "blind", "two_blind", "no_match"])
def test_the_leakage_verdict_names_why_it_fails(
    rows: list[tuple[str, int | None, int | None, int]], verdict: str | None
) -> None:
    """One matched row is enough to check (`matched` summed, not all); a feature time later
    than its label wins over every other reason."""
    assert leakage_verdict(report(*rows)) == verdict
