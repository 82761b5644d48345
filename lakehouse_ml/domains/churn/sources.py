"""The churn use case's landed feeds."""

from __future__ import annotations

from lakehouse_ml.domains.churn.contracts import (
    ChurnLabelContract,
    CustomerContract,
    EventContract,
    OrderContract,
    TicketContract,
)
from lakehouse_ml.medallion.spec import Source

SOURCES = (
    Source(
        name="customers", format="csv", contract=CustomerContract, primary_key=("customer_id",),
        sequence_by="updated_at", event_time="updated_at", effective_dates=("signup_date",),
        description="Customers, latest profile per customer (plan changes update it).",
    ),
    Source(
        name="orders", format="jsonl", contract=OrderContract, primary_key=("order_id",),
        sequence_by="updated_at", event_time="order_ts", event_time_immutable=True,
        description="Orders, latest status per order.",
    ),
    Source(
        name="events", format="jsonl", contract=EventContract, primary_key=("event_id",),
        event_time="event_ts", event_time_immutable=True,
        description="Product usage events (sessions, views, logins, purchases), one per event.",
    ),
    Source(
        name="tickets", format="csv", contract=TicketContract, primary_key=("ticket_id",),
        sequence_by="updated_at", event_time="created_at", event_time_immutable=True,
        description="Support tickets, latest status per ticket.",
    ),
    Source(
        name="churn_labels", format="jsonl", contract=ChurnLabelContract,
        primary_key=("customer_id", "label_timestamp"), event_time="label_timestamp",
        event_time_immutable=True,
        owner="team:ml", description="Churn outcomes: did the customer churn within 30 days "
        "of label_timestamp.",
    ),
)
