"""The hash chain of `governance.audit_log`: schema, canonical form, hash and verification.

Each record holds `sequence` (1, 2, 3, ... across every writer of the lakehouse), `prev_hash`
(the previous record's `hash`, `GENESIS` for sequence 1) and
`hash = sha256(canonical(record)).hexdigest()`, where `canonical` is the UTF-8 JSON
(`sort_keys`, separators `,` `:`, non-ASCII kept) of every column but `hash`, `prev_hash`
included: `event_time` as ISO 8601 with microseconds and `Z`, `event_date` as `YYYY-MM-DD`,
`request_params` as the list of `[key, value]` in stored order, `user_identity` and `response`
as objects. Editing any field of a record, inserting, deleting or reordering records breaks the
chain at the first record affected. A truncated tail leaves an intact chain, so the writer
also keeps a chain head checkpoint (`HEAD_FILE`: last sequence and hash) that `verify`
compares with the log's last record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import polars as pl

TABLE = "governance.audit_log"
GENESIS = "0" * 64
HEAD_FILE = "_governance/audit_head.json"
"""The chain head checkpoint, under `<root>/<env>/`."""
LOCK_FILE = "_governance/audit.lock"

_UTC = pl.Datetime("us", "UTC")
SCHEMA = pl.Schema({
    "event_time": _UTC,
    "event_date": pl.Date,
    "workspace_id": pl.String,
    "user_identity": pl.Struct({"email": pl.String}),
    "service_name": pl.String,
    "action_name": pl.String,
    "request_id": pl.String,
    "request_params": pl.List(pl.Struct({"key": pl.String, "value": pl.String})),
    "response": pl.Struct({"status_code": pl.Int32, "error_message": pl.String,
                           "result": pl.String}),
    "source": pl.String,
    "run_id": pl.String,
    "sequence": pl.Int64,
    "prev_hash": pl.String,
    "hash": pl.String,
})
"""After Databricks' `system.access.audit`: `workspace_id` is the environment (the catalog),
`user_identity.email` the principal, `source` where the call came from (`cli`, `pipeline`,
`serving`, ...) in place of `source_ip_address`/`user_agent`, `request_params` a map stored
as a list of key/value structs (polars has no map type)."""


Encode = Callable[[Any], str]


def _time(value: datetime | None) -> str:
    if value is None:
        return "null"
    if value.year < 1000:  # `isoformat` pads the year to 4 digits, strftime does not
        return f'"{value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}"'
    return f'"{value.replace(tzinfo=None).isoformat(timespec="microseconds")}Z"'


def _date(value: date | None) -> str:
    return "null" if value is None else f'"{value.isoformat()}"'


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _int(value: int | None) -> str:
    return "null" if value is None else int.__repr__(value)


def _encoder(dtype: pl.DataType) -> Encode:
    """The canonical JSON of a value of `dtype`, as `json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)` writes it (`None` as `null`), except a list
    of structs: each struct as the list of its values in field order."""
    if isinstance(dtype, pl.Struct):
        fields = sorted(dtype.fields, key=lambda f: f.name)
        parts = [(f.name, ("{" if i == 0 else ",") + f"{encode_basestring(f.name)}:",
                  _encoder(f.dtype)) for i, f in enumerate(fields)]
        return lambda v: "null" if v is None else (
            "".join([label + encode(v[name]) for name, label, encode in parts]) + "}")
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct):
        inner = [(f.name, _encoder(f.dtype)) for f in dtype.inner.fields]
        return lambda v: "null" if v is None else "[" + ",".join([
            "[" + ",".join([encode(item[name]) for name, encode in inner]) + "]"
            for item in v]) + "]"
    return {pl.String: _text, pl.Int32: _int, pl.Int64: _int, pl.Date: _date,
            _UTC: _time}[dtype]


_CHAINED = pl.Struct({name: dtype for name, dtype in SCHEMA.items() if name != "hash"})
_RECORD = _encoder(_CHAINED)
_COLUMNS = frozenset(SCHEMA.names())


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes hashed for `record` (a row of `SCHEMA`, `hash` ignored); ValueError naming
    the columns if it has other columns than `SCHEMA`'s."""
    if record.keys() != _COLUMNS and record.keys() | {"hash"} != _COLUMNS:
        raise ValueError(f"an audit record has the columns of SCHEMA, not {sorted(record)}")
    return _RECORD(record).encode("utf-8", "surrogatepass")


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


@dataclass(frozen=True)
class Head:
    """The last record of the chain: its sequence and hash (`0`, `GENESIS` when empty)."""

    sequence: int = 0
    hash: str = GENESIS


def chain(records: Iterable[dict[str, Any]], head: Head) -> Head:
    """Give `records` (rows without chain columns) their `sequence`, `prev_hash` and `hash`
    after `head`, in place; returns the new head."""
    for record in records:
        record["sequence"] = head.sequence + 1
        record["prev_hash"] = head.hash
        record["hash"] = record_hash(record)
        head = Head(record["sequence"], record["hash"])
    return head


class ChainBroken(Exception):
    """The first broken link: `sequence` and what is wrong with it."""

    def __init__(self, sequence: int, reason: str) -> None:
        super().__init__(f"audit chain broken at sequence {sequence}: {reason}")
        self.sequence = sequence


def verify(frame: pl.DataFrame, checkpoint: Head | None) -> Head:
    """Walk the log in `sequence` order; returns its head or raises `ChainBroken` at the
    first record that is out of place (a gap, a duplicate), whose `prev_hash` is not the
    previous record's hash, or whose hash is not that of its contents; then checks that the
    log reaches the `checkpoint` (a shorter log had its tail cut)."""
    head = Head()
    for record in frame.sort("sequence", maintain_order=True).iter_rows(named=True):
        sequence = record["sequence"]
        if sequence != head.sequence + 1:
            what = ("duplicated: a record was inserted" if sequence == head.sequence
                    else f"gap after {head.sequence}: a record was deleted")
            raise ChainBroken(sequence, f"sequence {what}")
        if record["prev_hash"] != head.hash:
            raise ChainBroken(sequence, f"prev_hash {record['prev_hash'][:12]}... is not the "
                              f"hash of sequence {head.sequence} ({head.hash[:12]}...)")
        if record_hash(record) != record["hash"]:
            raise ChainBroken(sequence, "hash does not match the record's contents (edited)")
        head = Head(sequence, record["hash"])
    if checkpoint is not None:
        if checkpoint.sequence > head.sequence:
            raise ChainBroken(head.sequence + 1, f"missing: the log ends at sequence "
                              f"{head.sequence} but its head checkpoint is at "
                              f"{checkpoint.sequence} (tail truncated)")
        if checkpoint.sequence and frame.filter(
                (pl.col("sequence") == checkpoint.sequence)
                & (pl.col("hash") == checkpoint.hash)).is_empty():
            raise ChainBroken(checkpoint.sequence, "hash differs from the head checkpoint's")
    return head
