"""Batch scoring catches up (issue 12): one `<schema>.predictions` run scores every day since the
last scored day that has feature snapshots, oldest first and at most `max_days`, each day's
eligible keys once; a rerun adds nothing; a day without snapshots is reported, not scored; a
day an older champion scored is re-scored only when asked (`rescore_from`). Real Delta tables,
a real MLflow store with a trained champion, Dagster's own `materialize`."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import pytest

import lakehouse_ml.domains
from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.model import predictions_asset
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.ml.batch import MAX_DAYS_PER_RUN
from lakehouse_ml.ml.candidate import train_candidate
from lakehouse_ml.ml.registry import CHAMPION, use_tracking

T0 = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = 60
UTC_US = pl.Datetime("us", "UTC")
PACKAGES = Path(__file__).resolve().parent / "catch_up_domain"


@pytest.fixture(autouse=True)
def declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `shop` domain is declared while each test runs (scoring finds its training set)."""
    monkeypatch.setattr(lakehouse_ml.domains, "__path__",
                        [*lakehouse_ml.domains.__path__, str(PACKAGES)])


SHOP = importlib.import_module("tests.catch_up_domain.shop")
(SPEC,) = SHOP.MODELS
SET = SHOP.TRAINING_SET
ASSET = predictions_asset(SPEC)


def day(n: int) -> date:
    return (T0 + timedelta(days=n)).date()


def snapshots(days: list[int]) -> pl.DataFrame:
    """Every key's snapshot at 00:00 of each day index; `events_30d` 0 for about a third."""
    rng = np.random.default_rng(days[0])
    rows = KEYS * len(days)
    return pl.DataFrame({
        "cid": np.tile(np.arange(KEYS), len(days)),
        "ts": [T0 + timedelta(days=d) for d in days for _ in range(KEYS)],
        "events_30d": rng.poisson(1.2, rows).astype(np.float64),
        "tenure_days": rng.uniform(0, 300, rows),
    }).with_columns(pl.col("ts").cast(UTC_US), pl.col("ts").cast(UTC_US).alias(AS_OF))


def add_snapshots(catalog: Catalog, days: list[int]) -> None:
    FeatureEngineeringClient(catalog).write_table("gold.activity", snapshots(days))


@pytest.fixture
def shop(settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Snapshots of days 0-5, labels of days 1-5 and a champion (version 1) trained on them."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{settings.root}/mlflow.db")
    settings = Settings.from_env()  # with that store
    FeatureEngineeringClient(catalog).create_table("gold.activity", "cid", timeseries_column="ts",
                                                   df=snapshots(list(range(6))))
    members = pl.DataFrame({"cid": np.arange(KEYS)})
    catalog.create_table("silver.members", members.schema, TableInfo(owner="t"))
    catalog.append("silver.members", members)
    rng = np.random.default_rng(1)
    labels = pl.DataFrame({
        "cid": np.tile(np.arange(KEYS), 5),
        "label_ts": [T0 + timedelta(days=d) for d in range(1, 6) for _ in range(KEYS)],
        "churned": rng.uniform(0, 1, 5 * KEYS) > 0.5,
    }).with_columns(pl.col("label_ts").cast(UTC_US))
    catalog.create_table(SET.labels, labels.schema, TableInfo(owner="t"))
    catalog.append(SET.labels, labels)
    dg.materialize([training_set_asset(SET)],
                   resources={"lakehouse": LakehouseResource.from_settings(settings)})
    champion(settings, catalog)
    return settings


def champion(settings: Settings, catalog: Catalog) -> int:
    """Train a new version and make it champion."""
    client = use_tracking(settings.mlflow_tracking_uri)
    version = train_candidate(catalog, client, SPEC).version
    client.set_registered_model_alias(SPEC.registered_name(catalog.env), CHAMPION, str(version))
    return version


def score(settings: Settings, **config: Any) -> dict[str, Any]:
    """Materialize the predictions asset; its metadata, JSON values decoded."""
    result = dg.materialize(
        [ASSET], resources={"lakehouse": LakehouseResource.from_settings(settings),
                            "mlflow": MlflowResource.from_settings(settings)},
        run_config={"ops": {ASSET.op.name: {"config": config}}} if config else None)
    (done,) = result.asset_materializations_for_node(ASSET.op.name)
    return {k: json.loads(json.dumps(v.value)) for k, v in done.metadata.items()
            if k in {"days_scored", "rows_by_day", "days_left", "days_without_features",
                     "scored", "last_scored_day_before", "model_version"}}


def eligible(catalog: Catalog, n: int) -> int:
    """Keys of day n's snapshot in the population (`events_30d` > 0), read back."""
    return catalog.read("gold.activity").filter(
        pl.col("ts") == T0 + timedelta(days=n), pl.col("events_30d") > 0).height


def written(catalog: Catalog) -> pl.DataFrame:
    return catalog.read(SPEC.predictions_table).with_columns(
        pl.col("as_of").dt.date().alias("day"))


def test_one_run_scores_the_three_days_the_schedule_missed_and_a_rerun_adds_nothing(
    shop: Settings, catalog: Catalog
) -> None:
    first = score(shop)
    assert first["days_scored"] == [day(5).isoformat()]  # nothing scored yet: the last day
    assert first["last_scored_day_before"] == "none"

    add_snapshots(catalog, [6, 7, 8])  # three days the schedule did not run
    caught_up = score(shop)

    missed = [day(n).isoformat() for n in (6, 7, 8)]
    assert caught_up["days_scored"] == missed
    assert caught_up["last_scored_day_before"] == day(5).isoformat()
    assert caught_up["rows_by_day"] == {day(n).isoformat(): eligible(catalog, n)
                                        for n in (6, 7, 8)}
    rows = written(catalog)
    per_day = dict(rows.group_by("day").len().iter_rows())
    assert per_day == {day(n): eligible(catalog, n) for n in range(5, 9)}
    assert len(set(per_day.values())) > 1  # the population differs by day
    assert rows.select("day", "cid").is_unique().all()
    assert set(rows["model_version"]) == {1}
    assert caught_up["scored"] == sum(eligible(catalog, n) for n in (6, 7, 8))

    version = catalog.version(SPEC.predictions_table)
    rerun = score(shop)
    assert rerun["days_scored"] == [] and rerun["scored"] == 0
    assert catalog.version(SPEC.predictions_table) == version
    assert written(catalog).equals(rows)


def test_a_run_scores_at_most_max_days_and_reports_days_without_features(
    shop: Settings, catalog: Catalog
) -> None:
    assert MAX_DAYS_PER_RUN == 31
    score(shop)  # day 5
    add_snapshots(catalog, [6, 8, 9, 10, 11])  # day 7: no snapshot

    bounded = score(shop, max_days=2)

    assert bounded["days_scored"] == [day(6).isoformat(), day(8).isoformat()]
    assert bounded["days_left"] == [day(n).isoformat() for n in (9, 10, 11)]
    assert bounded["days_without_features"] == [day(7).isoformat()]
    rest = score(shop)
    assert rest["days_scored"] == [day(n).isoformat() for n in (9, 10, 11)]
    assert rest["days_left"] == [] and rest["days_without_features"] == []
    assert sorted(set(written(catalog)["day"])) == [day(n) for n in (5, 6, 8, 9, 10, 11)]


def test_days_an_older_champion_scored_are_rescored_only_when_asked(
    shop: Settings, catalog: Catalog
) -> None:
    score(shop)
    add_snapshots(catalog, [6, 7])
    score(shop)  # days 6, 7 by version 1
    assert champion(shop, catalog) == 2
    add_snapshots(catalog, [8])

    new_day = score(shop)

    assert new_day["days_scored"] == [day(8).isoformat()] and new_day["model_version"] == 2
    versions = dict(written(catalog).group_by("day").agg(pl.col("model_version").unique()
                                                        .sort()).iter_rows())
    assert versions == {day(5): [1], day(6): [1], day(7): [1], day(8): [2]}
    asked = score(shop, rescore_from=day(6).isoformat())
    assert asked["days_scored"] == [day(6).isoformat(), day(7).isoformat()]  # 8: by 2 already
    rows = written(catalog)
    assert dict(rows.group_by("day").agg(pl.col("model_version").unique().sort()).iter_rows()
                ) == {day(5): [1], day(6): [2], day(7): [2], day(8): [2]}
    assert rows.select("day", "cid").is_unique().all()
    assert score(shop, rescore_from=day(6).isoformat())["days_scored"] == []


def test_a_rescore_from_that_is_not_a_day_fails_the_run_saying_so(
    shop: Settings, catalog: Catalog
) -> None:
    result = dg.materialize(
        [ASSET], resources={"lakehouse": LakehouseResource.from_settings(shop),
                            "mlflow": MlflowResource.from_settings(shop)},
        run_config={"ops": {ASSET.op.name: {"config": {"rescore_from": "yesterday"}}}},
        raise_on_error=False)
    assert not result.success
    assert "rescore_from: 'yesterday' is not a day (YYYY-MM-DD)" in str(
        result.get_step_failure_events()[0].step_failure_data.error)


def test_rescoring_starts_at_the_feature_history_and_max_days_below_one_is_refused(
    shop: Settings, catalog: Catalog
) -> None:
    asked = score(shop, rescore_from="2000-01-01", max_days=1)
    assert asked["days_scored"] == [day(0).isoformat()]  # the first snapshot's day
    assert asked["days_left"] == [day(n).isoformat() for n in range(1, 6)]
    assert asked["days_without_features"] == []
    result = dg.materialize(
        [ASSET], resources={"lakehouse": LakehouseResource.from_settings(shop),
                            "mlflow": MlflowResource.from_settings(shop)},
        run_config={"ops": {ASSET.op.name: {"config": {"max_days": 0}}}}, raise_on_error=False)
    assert not result.success
    assert "max_days must be at least 1, got 0" in str(
        result.get_step_failure_events()[0].step_failure_data.error)
