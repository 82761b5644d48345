"""Reading `governance.audit_log`: verifying its chain and showing filtered records."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.audit import read_head
from lakehouse_ml.governance.audit_chain import SCHEMA, TABLE, ChainBroken, Head, verify

SECURABLE_PARAM = "securable"
"""The request param naming the securable an action was on (`catalog.schema.table`, a model,
a function): `show --securable` matches it and everything under it."""


class NothingToVerify(LookupError):
    """No audit record was ever written: there is no chain to verify (not a pass)."""


class CheckpointUnreadable(RuntimeError):
    """The chain head checkpoint is not one (edited or cut): the tail cannot be checked."""


def verify_log(catalog: Catalog) -> tuple[Head, int]:
    """(the verified head, the table version read); `ChainBroken` at the first broken link
    (an absent or empty log whose head checkpoint says records were written is broken at
    sequence 1), `NothingToVerify` when no record was ever written, `CheckpointUnreadable`."""
    try:
        checkpoint = read_head(catalog)
    except ValueError as error:  # tampered with or cut: a failure, not a usage error
        raise CheckpointUnreadable(str(error)) from None
    if not catalog.exists(TABLE):
        if checkpoint is None:
            raise NothingToVerify(f"nothing to verify: no audit log {catalog.name(TABLE)} "
                                  f"(expected at {catalog.location(TABLE)})")
        raise ChainBroken(1, f"missing: the table {catalog.name(TABLE)} is gone but its head "
                          f"checkpoint is at sequence {checkpoint.sequence}")
    version = catalog.version(TABLE)
    frame = catalog.read(TABLE, version)
    if frame.is_empty() and checkpoint is None:
        raise NothingToVerify(f"nothing to verify: the audit log {catalog.name(TABLE)} has no "
                              "records")
    return verify(frame, checkpoint), version


def show(catalog: Catalog, *, principal: str | None = None, action: str | None = None,
         securable: str | None = None, since: datetime | None = None,
         limit: int = 50) -> pl.DataFrame:
    """The latest `limit` records (oldest first) matching every filter given: `principal`
    (`user_identity.email`), `action` (`action_name`), `securable` (the `securable` param
    equal to it or under it, e.g. a schema's tables), `since` (`event_time` at or after;
    a time without offset is UTC). An absent log shows no records."""
    if not catalog.exists(TABLE):
        return pl.DataFrame(schema=SCHEMA)
    frame = catalog.scan(TABLE)
    if principal is not None:
        frame = frame.filter(pl.col("user_identity").struct.field("email") == principal)
    if action is not None:
        frame = frame.filter(pl.col("action_name") == action)
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        frame = frame.filter(pl.col("event_time") >= since)
    if securable is not None:
        on = pl.col("request_params").list.eval(
            (pl.element().struct.field("key") == SECURABLE_PARAM)
            & ((pl.element().struct.field("value") == securable)
               | pl.element().struct.field("value").str.starts_with(f"{securable}."))
        ).list.any()
        frame = frame.filter(on)
    return frame.sort("sequence").tail(limit).collect()
