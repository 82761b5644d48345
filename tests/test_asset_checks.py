"""Every asset check the definitions declare fails on bad data and passes on good data, run by
Dagster's own `materialize` on a tiny domain landed by hand (issue 8, item 3).

Checks: bronze `landing_layout` and `parse_rejects`, silver `contract`, `conservation` and
`unique_keys`, gold `expectations` (defs/factories/medallion.py) and the training set's
`no_label_leakage` (defs/factories/training.py). `unique_keys` failing on a key held twice is
`tests/test_silver_keys.py::test_unique_keys_check_blocks_and_names_the_repeated_keys`; the
churn domain's checks passing on the generated data is
`tests/test_pipeline.py::test_whole_graph_materializes_with_checks_passing`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.features.training_table import leakage
from lakehouse_ml.medallion.spec import TrainingSetSpec
from tests.boundary_domain import DAY1, READINGS, SENSORS, land, reading
from tests.conftest import materialize

Evaluations = dict[str, dg.AssetCheckEvaluation]


def checks(settings: Settings, days: list[str] = [DAY1]) -> Evaluations:  # noqa: B006
    result = materialize(settings, days, domain=SENSORS, raise_on_error=False)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def meta(evaluation: dg.AssetCheckEvaluation, key: str) -> object:
    return evaluation.metadata[key].value


GOOD = [reading("r1", celsius=10.0), reading("r2", celsius=20.0), reading("r3", celsius=30.0),
        reading("r4", celsius=40.0)]


def test_every_check_passes_on_good_data(settings: Settings) -> None:
    land(settings.landing, DAY1, GOOD)
    evaluations = checks(settings)
    assert set(evaluations) == {"landing_layout", "parse_rejects", "contract", "conservation",
                                "unique_keys", "expectations"}
    assert all(e.passed for e in evaluations.values()), evaluations


# bronze: landing_layout and parse_rejects (warn)

def test_landing_layout_warns_about_a_landed_file_that_is_not_read(settings: Settings) -> None:
    land(settings.landing, DAY1, GOOD)
    land(settings.landing, f"{DAY1}/nested", [reading("r9")])
    evaluation = checks(settings)["landing_layout"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert meta(evaluation, "not_ingested") == 1


def test_parse_rejects_fails_with_a_warning_on_an_unreadable_line(settings: Settings) -> None:
    path = land(settings.landing, DAY1, GOOD)
    with open(f"{settings.landing}/{path}", "a") as file:
        file.write("{not json\n")
    evaluation = checks(settings)["parse_rejects"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert meta(evaluation, "rejected") == 1


# silver: contract (blocks from min_rows_to_block rows read)

def test_contract_passes_at_exactly_the_maximum_reject_fraction(settings: Settings) -> None:
    land(settings.landing, DAY1, [*GOOD[:3], reading("bad", celsius="hot")])  # 1 of 4 = 0.25
    evaluation = checks(settings)["contract"]
    assert evaluation.passed
    assert (meta(evaluation, "quarantined"), meta(evaluation, "reject_fraction")) == (
        1, READINGS.max_reject_fraction)


def test_contract_with_too_many_rejects_fails_and_blocks_gold(settings: Settings) -> None:
    land(settings.landing, DAY1, [*GOOD[:2], reading("b1", celsius="hot"),
                                  reading("b2", celsius=999.0)])  # 2 of 4 = 0.5
    result = materialize(settings, [DAY1], domain=SENSORS, raise_on_error=False)
    evaluation = {e.check_name: e for e in result.get_asset_check_evaluations()}["contract"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert (meta(evaluation, "quarantined"), meta(evaluation, "rows_read")) == (
        2, READINGS.min_rows_to_block)  # blocks from exactly min_rows_to_block rows read
    assert not result.success
    assert not result.asset_materializations_for_node("gold__hottest")


def test_contract_below_min_rows_to_block_only_warns(settings: Settings) -> None:
    land(settings.landing, DAY1, [GOOD[0], reading("b1", celsius="hot")])  # 1 of 2 read
    evaluation = checks(settings)["contract"]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN


# silver: conservation

def test_conservation_fails_when_a_landed_line_is_nowhere(settings: Settings,
                                                          catalog: Catalog) -> None:
    land(settings.landing, DAY1, GOOD)
    assert checks(settings)["conservation"].passed
    for table in (READINGS.bronze_table, READINGS.silver_table):  # r4 lost after landing
        catalog.delete(table, "reading_id = 'r4'")

    evaluation = checks(settings)["conservation"]

    assert not evaluation.passed
    assert (meta(evaluation, "landed"), meta(evaluation, "in_silver"),
            meta(evaluation, "unbalanced_batches")) == (4, 3, 1)


# gold: expectations

def test_expectations_fail_on_a_value_the_contract_allows_but_the_suite_does_not(
    settings: Settings,
) -> None:
    land(settings.landing, DAY1, [*GOOD[:3], reading("r9", celsius=120.0)])  # ≤ 150, > 100
    evaluations = checks(settings)
    assert evaluations["contract"].passed
    assert not evaluations["expectations"].passed
    assert meta(evaluations["expectations"], "failed") == 1


# training set: no_label_leakage

T0 = datetime(2026, 3, 1, tzinfo=UTC)
LABELS = "silver.outcomes"
SET = TrainingSetSpec(
    name="ml.training_set", description="Outcomes with point-in-time features.",
    labels=LABELS, label="churned", time_column="label_timestamp",
    feature_lookups=(FeatureLookup("gold.f", "cid", "label_timestamp",
                                   rename_outputs={AS_OF: f"f_{AS_OF}"}),),
)


def feature_rows(claimed: timedelta) -> pl.DataFrame:
    """Snapshots of cids 1-3 stamped at T0, each claiming (`snapshot_at`) T0 + `claimed`."""
    return pl.DataFrame({"cid": [1, 2, 3], "ts": [T0] * 3, "x": [1.0, 2.0, 3.0],
                         AS_OF: [T0 + claimed] * 3, "seen": [T0 + timedelta(days=9)] * 3}
                        ).with_columns(pl.col(pl.Datetime).dt.cast_time_unit("us"))


def training_set_check(settings: Settings, catalog: Catalog, claimed: timedelta
                       ) -> dg.AssetCheckEvaluation:
    FeatureEngineeringClient(catalog).create_table("gold.f", "cid", timeseries_column="ts",
                                                   df=feature_rows(claimed))
    labels = pl.DataFrame({"cid": [1, 2, 3], "label_timestamp": [T0, T0, T0 + timedelta(1)],
                           "churned": [True, False, True]}
                          ).with_columns(pl.col("label_timestamp").dt.cast_time_unit("us"))
    catalog.create_table(LABELS, labels.schema, TableInfo(owner="t"))
    catalog.append(LABELS, labels)
    result = dg.materialize([training_set_asset(SET)], raise_on_error=False,
                            resources={"lakehouse": LakehouseResource.from_settings(settings)})
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "no_label_leakage"
    return evaluation


def test_no_label_leakage_passes_when_snapshots_are_at_or_before_the_label_time(
    settings: Settings, catalog: Catalog
) -> None:
    evaluation = training_set_check(settings, catalog, timedelta(0))  # two labels exactly at T0
    assert evaluation.passed and meta(evaluation, "later_than_label") == 0


def test_no_label_leakage_fails_on_a_snapshot_later_than_its_label(
    settings: Settings, catalog: Catalog
) -> None:
    evaluation = training_set_check(settings, catalog, timedelta(hours=1))
    assert not evaluation.passed
    assert meta(evaluation, "later_than_label") == 2  # the label a day later is not leaked


@pytest.mark.parametrize(("claimed", "later"), [(timedelta(0), 0), (timedelta(microseconds=1), 2),
                                                (timedelta(days=1), 2), (timedelta(days=2), 3)])
def test_leakage_counts_only_snapshot_columns_later_than_the_label_time(
    claimed: timedelta, later: int
) -> None:
    frame = pl.DataFrame({
        "label_timestamp": [T0, T0, T0 + timedelta(days=1)],
        f"f_{AS_OF}": [T0 + claimed] * 3,
        "g_snapshot": [T0 + timedelta(days=9)] * 3,  # not a snapshot column: never counted
        AS_OF: [T0 + timedelta(days=9)] * 3,  # nor the bare name a lookup did not rename
        f"h_{AS_OF}": [None, T0, None],
    })
    report = leakage(frame, SET, [])
    assert report.rows() == [(f"f_{AS_OF}", later, 3, 3), (f"h_{AS_OF}", 0, 1, 3)]
