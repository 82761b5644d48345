"""Silver contracts of the churn sources: columns, types, rules, descriptions and PII tags."""

from __future__ import annotations

import pandera.polars as pa
from pandera.engines import polars_engine as pe

UTC = {"time_zone": "UTC"}
PII = {"tags": ["pii"]}


class CustomerContract(pa.DataFrameModel):
    customer_id: int = pa.Field(ge=1, description="Customer key.")
    email: str = pa.Field(str_contains="@", description="Contact email.", metadata=PII)
    country: str = pa.Field(str_length={"min_value": 2, "max_value": 2},
                            description="ISO-3166 alpha-2 country code.")
    plan_tier: str = pa.Field(isin=["basic", "pro", "enterprise"], description="Plan.")
    tenant_id: str = pa.Field(description="Tenant the customer belongs to (row filters).")
    signup_date: pe.Date = pa.Field(description="Day the customer signed up.")
    updated_at: pe.DateTime = pa.Field(dtype_kwargs=UTC, description="Version of the record.")


class OrderContract(pa.DataFrameModel):
    order_id: str = pa.Field(description="Order key.")
    customer_id: int = pa.Field(ge=1)
    order_ts: pe.DateTime = pa.Field(dtype_kwargs=UTC, description="When the order was placed.")
    amount: float = pa.Field(gt=0, description="Order value.")
    status: str = pa.Field(isin=["placed", "shipped", "cancelled"])
    product_id: str = pa.Field(nullable=True)
    updated_at: pe.DateTime = pa.Field(dtype_kwargs=UTC, description="Version of the record.")


class EventContract(pa.DataFrameModel):
    event_id: str = pa.Field(description="Event key.")
    customer_id: int = pa.Field(ge=1)
    event_ts: pe.DateTime = pa.Field(dtype_kwargs=UTC)
    event_type: str = pa.Field(isin=["session_start", "page_view", "login", "purchase"])
    session_id: str = pa.Field()
    product_id: str = pa.Field(nullable=True)
    revenue: float = pa.Field(ge=0, nullable=True, description="Set on purchases.")


class TicketContract(pa.DataFrameModel):
    ticket_id: str = pa.Field(description="Support ticket key.")
    customer_id: int = pa.Field(ge=1)
    created_at: pe.DateTime = pa.Field(dtype_kwargs=UTC)
    category: str = pa.Field(isin=["billing", "bug", "how_to", "cancellation"])
    priority: str = pa.Field(isin=["low", "medium", "high"])
    status: str = pa.Field(isin=["open", "closed"])
    updated_at: pe.DateTime = pa.Field(dtype_kwargs=UTC, description="Version of the record.")


class ChurnLabelContract(pa.DataFrameModel):
    customer_id: int = pa.Field(ge=1)
    label_timestamp: pe.DateTime = pa.Field(dtype_kwargs=UTC,
                                            description="Observation time of the label.")
    churned: bool = pa.Field(description="Churned within 30 days after label_timestamp.")
