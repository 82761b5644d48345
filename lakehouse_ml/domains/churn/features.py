"""Churn feature tables: daily snapshots per customer, vectorized over any range of days.

A snapshot stamped `D 00:00 UTC` sees only days before D. Windows look back at most 90 days and
every look-back is clipped to 90 days (recency included), so one day computed alone equals the
same day computed inside a backfill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

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


def _span(days: Sequence[date]) -> tuple[date, date]:
    """Grid days needed for these snapshots: the 90 days before the first, to the last's eve.

    No days (an empty partition range) give an empty span (first after last): no grid rows, so
    every builder returns its columns without rows."""
    if not days:
        return date.min + DAY, date.min
    return min(days) - HORIZON * DAY, max(days) - DAY


def _grid(customers: pl.LazyFrame, first: date, last: date) -> pl.LazyFrame:
    """One row per customer and calendar day in [first, last], from the signup day on."""
    days = pl.LazyFrame({"day": pl.date_range(first, last, "1d", eager=True)})
    return (
        customers.select(KEY, "signup_date")
        .join(days, how="cross")
        .filter(pl.col("day") >= pl.col("signup_date"))
        .drop("signup_date")
    )


def _running(frame: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """Add a running total `_sum_<column>` per customer over the day grid (nulls as 0)."""
    return frame.with_columns(pl.col(columns).fill_null(0)).with_columns(
        pl.col(c).cum_sum().over(KEY, order_by="day").alias(f"_sum_{c}") for c in columns
    )


def _window(column: str, days: int, offset: int = 0) -> pl.Expr:
    """Sum of `column` over the `days` grid rows ending `offset` rows before this one."""
    total = pl.col(f"_sum_{column}")
    upper = total.shift(offset).over(KEY, order_by="day").fill_null(0) if offset else total
    lower = total.shift(offset + days).over(KEY, order_by="day").fill_null(0)
    return upper - lower


def _snapshots(frame: pl.LazyFrame, days: Sequence[date]) -> pl.LazyFrame:
    """Grid row `day` holds the values as of the end of that day: the snapshot of `day + 1`."""
    stamped = frame.with_columns(
        (pl.col("day") + DAY).cast(pl.Datetime("us", "UTC")).alias(TS)
    )
    return stamped.filter(pl.col("day").is_in([d - DAY for d in days])).drop("day")


def _count(mark: str) -> pl.Expr:
    return (pl.col("mark") == mark).cast(pl.Int32).sum()


def _distinct_products(events: pl.LazyFrame, first: date, last: date) -> pl.LazyFrame:
    """Per customer and day: the change in the number of distinct products seen in each window
    ending that day (`dp<w>`; their running sums are the counts).

    Each sighting counts from its day until the next sighting of the same product or `w` days
    later, whichever is first: +1/-1 at those days. One scan of the events serves every window.
    """
    start = datetime.combine(first, time(), tzinfo=UTC)
    end = datetime.combine(last, time(), tzinfo=UTC) + DAY
    marks = (
        events.filter(pl.col("event_ts") >= start, pl.col("event_ts") < end,  # skips files
                      pl.col("product_id").is_not_null())
        .select(KEY, "product_id", pl.col("event_ts").dt.date().alias("day"))
        .unique()
        .with_columns(
            pl.col("day").shift(-1).over(KEY, "product_id", order_by="day").alias("next")
        )
        .select(KEY, pl.col("day").alias("seen"), *(
            pl.min_horizontal(pl.col("next"), pl.col("day") + w * DAY).alias(f"gone{w}")
            for w in WINDOWS))
        .unpivot(index=KEY, variable_name="mark", value_name="day")
    )
    return marks.group_by(KEY, "day").agg(
        (_count("seen") - _count(f"gone{w}")).alias(f"dp{w}") for w in WINDOWS)


def engagement(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    first, last = _span(days)
    activity = (
        inputs[ACTIVITY].rename({"activity_date": "day"})
        .filter(pl.col("day").is_between(first, last))
        .select(KEY, "day", *METRICS)
    )
    grid = (
        _grid(inputs[CUSTOMERS], first, last)
        .join(activity, on=[KEY, "day"], how="left")
        .join(_distinct_products(inputs[EVENTS], first, last), on=[KEY, "day"], how="left")
    )
    grid = _running(grid, [*METRICS, *(f"dp{w}" for w in WINDOWS)])
    windows = [
        _window(m, w).alias(f"{m}_{w}d") for m in METRICS for w in WINDOWS
    ] + [pl.col(f"_sum_dp{w}").cast(pl.Int64).alias(f"distinct_products_{w}d") for w in WINDOWS]
    features = grid.with_columns(windows).with_columns(
        pl.col("revenue_7d", "revenue_30d", "revenue_90d").round(2),
        ((pl.col("events_30d") - _window("events", 30, offset=30))
         / (_window("events", 30, offset=30) + 1)).round(6).alias("activity_trend_mom"),
    )
    return _snapshots(features, days).select(
        KEY, TS, *(f.name for f in ENGAGEMENT_FEATURES))


def _days_since(flag: str, name: str) -> pl.Expr:
    """Days from the last day with `flag` > 0 (within the horizon) to the snapshot day."""
    last = pl.when(pl.col(flag) > 0).then(pl.col("day")).forward_fill().over(KEY, order_by="day")
    since = (pl.col("day") + DAY - last).dt.total_days()
    return pl.when(since <= HORIZON).then(since).alias(name)


def recency(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    first, last = _span(days)
    activity = (
        inputs[ACTIVITY].rename({"activity_date": "day"})
        .filter(pl.col("day").is_between(first, last))
        .select(KEY, "day", "purchases", "logins")
    )
    grid = _grid(inputs[CUSTOMERS], first, last).join(activity, on=[KEY, "day"], how="left")
    features = grid.with_columns(pl.col("purchases", "logins").fill_null(0)).with_columns(
        _days_since("purchases", "days_since_last_purchase"),
        _days_since("logins", "days_since_last_login"),
    )
    return _snapshots(features, days).select(KEY, TS, *(f.name for f in RECENCY_FEATURES))


def support(inputs: Mapping[str, pl.LazyFrame], days: Sequence[date]) -> pl.LazyFrame:
    first, last = _span(days)
    created = pl.col("created_at").dt.date().alias("day")
    tickets = (
        inputs[TICKETS].select(KEY, created, "category")
        .filter(pl.col("day").is_between(first, last))
        .group_by(KEY, "day")
        .agg(pl.len().cast(pl.Int64).alias("tickets"),
             pl.col("category").is_in(["billing", "cancellation"]).sum().cast(pl.Int64)
             .alias("billing_or_cancellation"))
    )
    grid = _grid(inputs[CUSTOMERS], first, last).join(tickets, on=[KEY, "day"], how="left")
    features = _running(grid, ["tickets", "billing_or_cancellation"]).with_columns(
        _window("tickets", 30).alias("tickets_30d"),
        _window("tickets", 90).alias("tickets_90d"),
        _window("billing_or_cancellation", 90).alias("billing_or_cancellation_tickets_90d"),
    )
    return _snapshots(features, days).select(KEY, TS, *(f.name for f in SUPPORT_FEATURES))


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
    _f("tenure_days", "days since signup", (CUSTOMERS, "signup_date")),
    _f("plan_tier", "plan at the snapshot time", (CUSTOMERS, "plan_tier")),
    _f("country", "country at the snapshot time", (CUSTOMERS, "country")),
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
