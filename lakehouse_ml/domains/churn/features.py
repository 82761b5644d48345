"""Churn feature tables: daily snapshots per customer, vectorized over any range of days.

A snapshot stamped `D 00:00 UTC` sees only days before D. Windows look back at most 90 days and
every look-back is clipped to 90 days (recency included), so one day computed alone equals the
same day computed inside a backfill.

`engagement` keeps a state (`lakehouse_ml.features.state`): the last day each customer saw each
product, so that a refresh counts distinct products from it and the sightings of the days after
it, not from the 90-day look-back of sightings; without a usable state it reads the look-back,
with the same snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from lakehouse_ml.features.incremental import (
    Window,
    advance_last_seen,
    days_since,
    distinct_in_windows,
    last_sightings,
    window_sums,
)
from lakehouse_ml.features.state import Carried, StatefulBuild
from lakehouse_ml.medallion.spec import Feature, FeatureTableSpec
from lakehouse_ml.quality.contracts import apply_contract

DAY = timedelta(days=1)
WINDOWS = (7, 30, 90)
HORIZON = max(WINDOWS)
METRICS = ("events", "sessions", "page_views", "purchases", "revenue")
KEY, TS = "customer_id", "feature_ts"
ACTIVITY, CUSTOMERS, EVENTS, TICKETS = (
    "gold.daily_activity", "silver.customers", "silver.events", "silver.tickets")
CUSTOMER_VERSIONS = "bronze.customers"
PART_CUSTOMERS = 20_000
"""Customers whose engagement snapshots are built together (`_engagement`)."""


def _span(days: Sequence[date]) -> tuple[date, date]:
    """Days of data these snapshots need: the 90 days before the first, to the last's eve.

    No days (an empty partition range) give an empty span (first after last): no rows, so
    every builder returns its columns without rows."""
    if not days:
        return date.min + DAY, date.min
    return min(days) - HORIZON * DAY, max(days) - DAY


def _stamps(customers: pl.LazyFrame, days: Sequence[date]) -> pl.LazyFrame:
    """One row per customer and snapshot, `day` being the last day it sees (the stamp's eve),
    for customers signed up by then."""
    seen = pl.LazyFrame({"day": sorted(d - DAY for d in days)}, schema={"day": pl.Date})
    return (customers.join(seen, how="cross")
            .filter(pl.col("day") >= pl.col("signup_date")).drop("signup_date"))


def _known(daily: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame:
    """Rows of known customers, from their signup day on."""
    return (daily.join(customers, on=KEY).filter(pl.col("day") >= pl.col("signup_date"))
            .drop("signup_date"))


def _counted(daily: pl.LazyFrame, customers: pl.LazyFrame, first: date, last: date
             ) -> pl.LazyFrame:
    """Rows of days [first, last] of known customers, from their signup day on."""
    return _known(daily.filter(pl.col("day").is_between(first, last)), customers)


def _stamped(features: pl.LazyFrame, names: Sequence[str]) -> pl.LazyFrame:
    """Row `day` holds the values as of the end of that day: the snapshot of `day + 1`."""
    return features.select(
        KEY, (pl.col("day") + DAY).cast(pl.Datetime("us", "UTC")).alias(TS), *names)


def _inputs(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]
            ) -> tuple[pl.LazyFrame, pl.LazyFrame, date, date]:
    first, last = _span(days)
    customers = inputs[CUSTOMERS].select(KEY, "signup_date")
    return customers, _stamps(customers, days), first, last


def _activity(inputs: Mapping[str, pl.LazyFrame], columns: Sequence[str]) -> pl.LazyFrame:
    return inputs[ACTIVITY].select(KEY, pl.col("activity_date").alias("day"), *columns)


def _sightings(inputs: Mapping[str, pl.LazyFrame], first: date, last: date) -> pl.LazyFrame:
    """Every product sighting (`KEY`, product_id, `day`) of days [first, last], of any
    customer (a kept state must not depend on today's customer rows)."""
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = datetime.combine(last, time(), tzinfo=UTC) + DAY
    return inputs[EVENTS].filter(
        pl.col("event_ts") >= start, pl.col("event_ts") < end,  # skips files
        pl.col("product_id").is_not_null(),
    ).select(KEY, "product_id", pl.col("event_ts").dt.date().alias("day"))


def _start(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date], state: Carried | None,
           keep: date) -> Carried:
    """The last sightings the counts start from: `state` (up to a day before the first
    snapshot's eve), or without one the 90-day look-back's (as of `keep` if it is in the
    look-back, else the first snapshot's eve's eve), reduced first."""
    if state is not None:
        return state
    first = min(days) - DAY
    before = keep if first - HORIZON * DAY <= keep < first else first - DAY
    return Carried(last_sightings(_sightings(inputs, before - (HORIZON - 1) * DAY, before),
                                  KEY, "product_id"), before)


def _recent(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date], start: Carried
            ) -> pl.DataFrame:
    """The sightings after the day of `start` up to the last snapshot's eve, of every customer:
    read once (collected), not once per range of customers, and by `_kept` too."""
    return _sightings(inputs, start.as_of + DAY, max(days) - DAY).collect()


def _distinct_products(days: Sequence[date], customers: pl.LazyFrame, stamps: pl.LazyFrame,
                       start: Carried, recent: pl.LazyFrame) -> pl.LazyFrame:
    """Distinct products in 7/30/90 days at each snapshot, from the last sightings `start`
    and the sightings after its day (`_start`, `_recent`)."""
    first, last = min(days) - DAY, max(days) - DAY
    return distinct_in_windows(
        _known(start.rows, customers), _known(recent, customers), stamps, KEY, "product_id",
        {f"distinct_products_{w}d": w for w in WINDOWS}, first, last)


def _kept(start: Carried, recent: pl.LazyFrame, state: Carried | None, keep: date
          ) -> Carried | None:
    """The last sighting per customer and product to keep as of `keep`, of every customer,
    from `start` and the sightings after it, `recent` (None if `keep` is not after the day of
    `state`, the state given)."""
    if keep < start.as_of or (state is not None and keep == state.as_of):
        return None  # nothing newer to keep
    return Carried(advance_last_seen(start.rows, recent, KEY, "product_id", keep, HORIZON), keep)


def _engagement_of(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date],
                   start: Carried | None, recent: pl.LazyFrame | None) -> pl.DataFrame:
    """The snapshots of `days` of the customers in `inputs` (collected), distinct products
    counted from `start` and the sightings after it, `recent` (none: no days)."""
    customers, stamps, first, last = _inputs(inputs, days)
    activity = _counted(_activity(inputs, METRICS), customers, first, last)
    sums = window_sums(activity, stamps, KEY, {
        **{f"{m}_{w}d": Window(m, w) for m in METRICS for w in WINDOWS},
        "_events_before_30d": Window("events", 30, offset=30),
    }, [d - DAY for d in days])
    if start is None or recent is None:
        distinct = stamps.select(KEY, "day", *(
            pl.lit(None, pl.Int64).alias(f"distinct_products_{w}d") for w in WINDOWS))
    else:
        # computed before the sums rather than in one plan with them: the two at once held
        # both's joins in memory (a refresh at 50k customers: ~100 MiB more at its peak)
        distinct = _distinct_products(days, customers, stamps, start, recent).collect(
            engine="streaming").lazy()
    before = pl.col("_events_before_30d")
    features = sums.join(distinct, on=[KEY, "day"], how="left").with_columns(
        pl.col("revenue_7d", "revenue_30d", "revenue_90d").round(2),
        ((pl.col("events_30d") - before) / (before + 1)).round(6).alias("activity_trend_mom"),
    )
    return _stamped(features, [f.name for f in ENGAGEMENT_FEATURES]).collect(engine="streaming")


def _parts(customers: pl.LazyFrame) -> list[pl.Expr]:
    """Filters on `KEY` splitting the known customers into ranges of at most
    `PART_CUSTOMERS` (other keys, which no snapshot has, in none)."""
    keys = customers.select(pl.col(KEY).drop_nulls().unique().sort()).collect().to_series()
    return [pl.col(KEY).is_between(keys[i], keys[min(i + PART_CUSTOMERS, keys.len()) - 1])
            for i in range(0, keys.len(), PART_CUSTOMERS)] or [pl.lit(False)]


def _engagement(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date],
                state: Carried | None, keep: date) -> tuple[pl.LazyFrame, Carried | None]:
    """Built for a range of at most `PART_CUSTOMERS` customers at a time (every feature is
    one customer's), each sorted by customer and time: the memory of the counts and sums
    follows the part, not the population (but for the sightings after the start's day, read
    once for every part: `_recent`), and the parts laid end to end are in the order a
    feature table is written in (`prepare_rows` then need not sort them again)."""
    if not days:
        return _engagement_of(inputs, days, None, None).lazy(), None
    start = _start(inputs, days, state, keep)
    recent = _recent(inputs, days, start).lazy()
    built = [_engagement_of({name: frame.filter(part) for name, frame in inputs.items()},
                            days, Carried(start.rows.filter(part), start.as_of),
                            recent.filter(part)).sort(KEY, TS)
             for part in _parts(inputs[CUSTOMERS])]
    return pl.concat(built).lazy(), _kept(start, recent, state, keep)


engagement = StatefulBuild(
    _engagement, "per customer and product seen in the 90 days up to state_as_of, the last day "
    "it was seen (customer_id, product_id, day): distinct products then need only the "
    "sightings after that day.")


def recency(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    customers, stamps, first, last = _inputs(inputs, days)
    activity = _counted(_activity(inputs, ["purchases", "logins"]), customers, first, last)
    features = days_since(activity, stamps, KEY, {
        "days_since_last_purchase": "purchases", "days_since_last_login": "logins"}, HORIZON)
    return _stamped(features, [f.name for f in RECENCY_FEATURES])


def support(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    customers, stamps, first, last = _inputs(inputs, days)
    tickets = (
        inputs[TICKETS].select(KEY, pl.col("created_at").dt.date().alias("day"), "category")
        .filter(pl.col("day").is_between(first, last))
        .group_by(KEY, "day")
        .agg(pl.len().cast(pl.Int64).alias("tickets"),
             pl.col("category").is_in(["billing", "cancellation"]).sum().cast(pl.Int64)
             .alias("billing_or_cancellation"))
    )
    features = window_sums(_counted(tickets, customers, first, last), stamps, KEY, {
        "tickets_30d": Window("tickets", 30),
        "tickets_90d": Window("tickets", 90),
        "billing_or_cancellation_tickets_90d": Window("billing_or_cancellation", 90),
    }, [d - DAY for d in days])
    return _stamped(features, [f.name for f in SUPPORT_FEATURES])


def customer_versions(bronze: pl.LazyFrame) -> pl.LazyFrame:
    """Every valid version of every customer: the profile as it was at any time."""
    from lakehouse_ml.domains.churn.sources import SOURCES

    source = next(s for s in SOURCES if s.name == "customers")
    valid = apply_contract(bronze.collect(), source.schema, source.contract).valid
    return valid.lazy().select(KEY, "country", "plan_tier", "signup_date", "updated_at").unique()


def profile(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    """Plan tier and country as of the snapshot (not today's), and tenure."""
    stamps = pl.LazyFrame({TS: [d for d in sorted(days)]}).with_columns(
        pl.col(TS).cast(pl.Datetime("us", "UTC")))
    versions = customer_versions(inputs[CUSTOMER_VERSIONS]).sort("updated_at")
    keys = versions.select(KEY).unique().join(stamps, how="cross").sort(TS)
    latest = keys.join_asof(
        versions, left_on=TS, right_on="updated_at", by=KEY, strategy="backward",
        allow_exact_matches=False, check_sortedness=False,
    ).filter(pl.col("updated_at").is_not_null())
    return latest.select(
        KEY, TS,
        (pl.col(TS).dt.date() - pl.col("signup_date")).dt.total_days().alias("tenure_days"),
        "plan_tier", "country",
    ).sort(KEY, TS)


def _f(name: str, description: str, *derived: tuple[str, str], days: int | None = None
       ) -> Feature:
    return Feature(name, description, derived, None if days is None else days * DAY)


ENGAGEMENT_FEATURES = tuple(
    _f(f"{m}_{w}d", f"{m.replace('_', ' ')} in the {w} days before the snapshot",
       (ACTIVITY, m), days=w)
    for m in METRICS for w in WINDOWS
) + tuple(
    _f(f"distinct_products_{w}d", f"distinct products viewed or bought in {w} days",
       (EVENTS, "product_id"), (EVENTS, "event_ts"), days=w)
    for w in WINDOWS
) + (
    _f("activity_trend_mom", "events last 30 days vs the 30 before: (a - b) / (b + 1)",
       (ACTIVITY, "events"), days=60),
)
RECENCY_FEATURES = (
    _f("days_since_last_purchase", "days since the last purchase (null if none in 90 days)",
       (ACTIVITY, "purchases"), (ACTIVITY, "activity_date"), days=HORIZON),
    _f("days_since_last_login", "days since the last login (null if none in 90 days)",
       (ACTIVITY, "logins"), (ACTIVITY, "activity_date"), days=HORIZON),
)
SUPPORT_FEATURES = (
    _f("tickets_30d", "support tickets opened in 30 days", (TICKETS, "ticket_id"), days=30),
    _f("tickets_90d", "support tickets opened in 90 days", (TICKETS, "ticket_id"), days=90),
    _f("billing_or_cancellation_tickets_90d", "billing or cancellation tickets in 90 days",
       (TICKETS, "category"), days=90),
)
PROFILE_FEATURES = (
    _f("tenure_days", "days since signup", (CUSTOMER_VERSIONS, "signup_date")),
    _f("plan_tier", "plan at the snapshot time", (CUSTOMER_VERSIONS, "plan_tier")),
    _f("country", "country at the snapshot time", (CUSTOMER_VERSIONS, "country")),
)


def _table(name: str, description: str, inputs: tuple[str, ...], build, features):
    return FeatureTableSpec(
        name=name, description=description, entity_keys=(KEY,), timestamp_key=TS,
        inputs=inputs, build=build, features=features, tags={"domain": "churn"},
    )


FEATURE_TABLES = (
    _table("customer_engagement", "Activity over 7/30/90 days and its month-over-month trend.",
           (ACTIVITY, CUSTOMERS, EVENTS), engagement, ENGAGEMENT_FEATURES),
    _table("customer_recency", "Days since the last purchase and the last login.",
           (ACTIVITY, CUSTOMERS), recency, RECENCY_FEATURES),
    _table("customer_support", "Support tickets over 30/90 days.", (TICKETS, CUSTOMERS),
           support, SUPPORT_FEATURES),
    _table("customer_profile", "Tenure, plan tier and country as of each day.",
           (CUSTOMER_VERSIONS,), profile, PROFILE_FEATURES),
)
