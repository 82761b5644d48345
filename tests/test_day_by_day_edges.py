"""Day-by-day refreshes equal one backfill of the same landing when data arrive the hard ways:
a day on which nothing lands, days landed out of order, a file landed late in an old day's
folder, a customer re-sent with another signup_date, a customer first known long after its
signup (and after its events). Every silver, gold and feature table, and the online store,
must equal the backfill's."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.generator import generate
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.snapshots import DAY
from lakehouse_ml.features.timestamps import snapshot_time
from tests.conftest import START, day_keys, materialize
from tests.test_pipeline import assert_same_tables, snapshot

DAYS = day_keys(START, 10)
SOURCES = ("customers", "events", "orders", "tickets")
HEADER = "customer_id,email,country,plan_tier,tenant_id,signup_date,updated_at\n"
NEW_CUSTOMER = 9999


def at(day: str, hour: int) -> str:
    return f"{day}T{hour:02d}:00:00Z"


def customer_line(row: dict, signup: str, updated: str) -> str:
    return (f"{row['customer_id']},{row['email']},{row['country']},{row['plan_tier']},"
            f"{row['tenant_id']},{signup},{updated}\n")


def events(customer: int, day: str, count: int, tag: str) -> str:
    return "".join(json.dumps({
        "event_id": f"e-{tag}-{customer}-{day}-{i}", "customer_id": customer,
        "event_ts": at(day, 8 + i), "event_type": "purchase" if i % 2 else "page_view",
        "session_id": f"s-{tag}-{customer}-{day}", "product_id": f"p-{900 + i}",
        "revenue": 25.0 if i % 2 else None}) + "\n" for i in range(count))


def land(master: Path, landing: Path, day: str) -> None:
    for source in SOURCES:
        if (master / source / day).is_dir():
            shutil.copytree(master / source / day, landing / source / day)


def write(landing: Path, source: str, day: str, name: str, text: str) -> Path:
    path = landing / source / day / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_day_by_day_equals_a_backfill_when_data_arrive_out_of_order(tmp_path: Path) -> None:
    master = tmp_path / "master"
    generate(master, customers=60, days=len(DAYS), start=START, seed=29, dirty_fraction=0.0,
             progress=False)
    gap = DAYS[4]  # nothing lands on this day, for any source
    for source in SOURCES:
        shutil.rmtree(master / source / gap, ignore_errors=True)
    customers = pl.read_csv(master / "customers" / DAYS[0] / "part-00000.csv")
    old = customers.filter(pl.col("signup_date") < str(START)).row(0, named=True)

    daily = Settings(str(tmp_path / "daily"), str(tmp_path / "landing"), "dev",
                     f"sqlite:///{tmp_path / 'daily.db'}")
    landing = Path(daily.landing)
    for day in DAYS[:4]:
        land(master, landing, day)
    materialize(daily, DAYS[:4])
    land(master, landing, DAYS[5])  # after a day nothing landed on: the gap's snapshot too
    materialize(daily, DAYS[5:6])
    # events of a customer not known yet, landed with day 7
    write(master, "events", DAYS[7], "part-00001.json",
          events(NEW_CUSTOMER, DAYS[2], 3, "early") + events(NEW_CUSTOMER, DAYS[7], 2, "early"))
    for day in (DAYS[7], DAYS[6]):  # out of order: day 6 lands after day 7 was refreshed
        land(master, landing, day)
        materialize(daily, [day])
    # day 8: a customer re-sent with a later signup (its earlier snapshots go); day 9: the
    # record of the customer known by its events only, signed up on day 1
    for day, text in ((DAYS[8], customer_line(old, DAYS[3], at(DAYS[8], 5))),
                      (DAYS[9], customer_line({**old, "customer_id": NEW_CUSTOMER},
                                              DAYS[1], at(DAYS[9], 5)))):
        write(master, "customers", day, "part-00001.csv", HEADER + text)
        land(master, landing, day)
    materialize(daily, DAYS[8:])
    # a file landed late in an old day's folder, picked up by refreshing that day
    late = write(master, "events", DAYS[2], "part-00001.json",
                 events(int(old["customer_id"]), DAYS[2], 4, "late")
                 + events(int(customers["customer_id"][1]), DAYS[2], 4, "late"))
    shutil.copy(late, landing / "events" / DAYS[2] / late.name)
    materialize(daily, DAYS[2:3])

    full = Settings(str(tmp_path / "full"), str(master), "dev",
                    f"sqlite:///{tmp_path / 'full.db'}")
    materialize(full, DAYS)
    one, each = (Catalog(s.root, s.env) for s in (full, daily))
    backfilled = snapshot(one)
    # the cases are there: the gap's snapshot, the new customer's from its signup on, and
    # the re-sent customer's none before its new signup
    stamps = backfilled["dev.gold.customer_profile"]["feature_ts"].dt.date().to_list()
    assert date.fromisoformat(gap) + timedelta(days=1) in stamps
    # none before the first day's (customers signed up long before it create none)
    for table in ("profile", "engagement", "recency", "support"):
        first = backfilled[f"dev.gold.customer_{table}"]["feature_ts"].min()
        assert first.date() == START + timedelta(days=1), table
    engagement = backfilled["dev.gold.customer_engagement"]
    first = engagement.filter(pl.col("customer_id") == NEW_CUSTOMER)["feature_ts"].min()
    assert first.date() == date.fromisoformat(DAYS[1]) + timedelta(days=1)
    moved = engagement.filter(pl.col("customer_id") == old["customer_id"])["feature_ts"].min()
    assert moved.date() == date.fromisoformat(DAYS[3]) + timedelta(days=1)
    assert_same_tables(backfilled, snapshot(each))
    # a hole (here cut by hand) on a day nothing landed on: refreshing that day fills it
    profile, stamp = "gold.customer_profile", snapshot_time(date.fromisoformat(gap) + DAY)
    each.delete(profile, f"feature_ts = '{stamp.isoformat()}'")
    assert each.read(profile).height < backfilled[f"dev.{profile}"].height
    materialize(daily, [gap])
    assert_same_tables(backfilled, snapshot(each))
    for table in ("gold.customer_engagement", "gold.customer_recency"):
        keys = one.read(table).select("customer_id").unique().sort("customer_id")
        online = [FeatureEngineeringClient(c).get_online_features(table, keys) for c in (one, each)]
        assert online[0].equals(online[1]), table
