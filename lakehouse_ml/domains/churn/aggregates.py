"""Gold business aggregates of the churn use case.

Money is rounded to cents after summing: float sums depend on row order, and silver's row order
differs between a backfill and day-by-day runs; rounding makes both give the same table.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from lakehouse_ml.medallion.spec import Aggregate, Expectation


def daily_activity(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    kind = pl.col("event_type")
    return (
        silver["events"]
        .with_columns(pl.col("event_ts").dt.date().alias("activity_date"))
        .group_by("customer_id", "activity_date")
        .agg(
            (kind == "session_start").sum().cast(pl.Int64).alias("sessions"),
            (kind == "page_view").sum().cast(pl.Int64).alias("page_views"),
            (kind == "login").sum().cast(pl.Int64).alias("logins"),
            (kind == "purchase").sum().cast(pl.Int64).alias("purchases"),
            pl.col("revenue").fill_null(0.0).sum().round(2).alias("revenue"),
            pl.col("product_id").drop_nulls().n_unique().cast(pl.Int64).alias("distinct_products"),
            pl.len().cast(pl.Int64).alias("events"),
        )
    )


def daily_revenue(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    return (
        silver["orders"]
        .filter(pl.col("status") != "cancelled")
        .with_columns(pl.col("order_ts").dt.date().alias("revenue_date"))
        .group_by("revenue_date")
        .agg(
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("amount").sum().round(2).alias("revenue"),
            pl.col("customer_id").n_unique().cast(pl.Int64).alias("customers"),
        )
    )


def _events(*columns: str) -> tuple[tuple[str, str], ...]:
    return tuple(("events", c) for c in columns)


AGGREGATES = (
    Aggregate(
        name="daily_activity", build=daily_activity, inputs=("events",),
        day_column="activity_date", primary_key=("customer_id", "activity_date"),
        description="Per customer and day: sessions, page views, logins, purchases, revenue, "
        "distinct products.",
        expectations=(
            Expectation("expect_table_row_count_to_be_between", min_value=1),
            Expectation("expect_compound_columns_to_be_unique",
                        column_list=["customer_id", "activity_date"]),
            Expectation("expect_column_values_to_not_be_null", column="customer_id"),
            Expectation("expect_column_values_to_be_between", column="revenue", min_value=0),
            Expectation("expect_column_values_to_be_between", column="events", min_value=1),
        ),
        column_lineage={
            "customer_id": _events("customer_id"), "activity_date": _events("event_ts"),
            "sessions": _events("event_type"), "page_views": _events("event_type"),
            "logins": _events("event_type"), "purchases": _events("event_type"),
            "revenue": _events("revenue"), "distinct_products": _events("product_id"),
            "events": _events("event_id"),
        },
    ),
    Aggregate(
        name="daily_revenue", build=daily_revenue, inputs=("orders",),
        day_column="revenue_date", primary_key=("revenue_date",),
        description="Per day: orders not cancelled, their revenue and distinct customers.",
        expectations=(
            Expectation("expect_table_row_count_to_be_between", min_value=1),
            Expectation("expect_column_values_to_be_unique", column="revenue_date"),
            Expectation("expect_column_values_to_be_between", column="revenue", min_value=0),
            Expectation("expect_column_values_to_be_between", column="orders", min_value=1),
        ),
        column_lineage={
            "revenue_date": (("orders", "order_ts"),), "orders": (("orders", "order_id"),),
            "revenue": (("orders", "amount"), ("orders", "status")),
            "customers": (("orders", "customer_id"),),
        },
    ),
)
