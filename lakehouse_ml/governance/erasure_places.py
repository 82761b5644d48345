"""The shapes an erasure (`lakehouse-ml forget`, issue 14 item 5) is described in.

`Subject` names the data subject (a key column and its value); every part of an erasure
(Delta tables, landed files and their manifest, MLflow artifacts, online stores, model
versions) reports each place it touched — or, in a dry run, would touch — as one `ErasedPlace`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PlaceKind = Literal["table", "landed_file", "artifact", "online_store", "model_version"]


@dataclass(frozen=True)
class Subject:
    """A data subject: the rows whose `column` equals `value`.

    `value` is the text given on the command line (`--key customer_id=VALUE`); each place
    compares it after casting it to its own column's type."""

    column: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Subject:
        """`"customer_id=42"` → `Subject("customer_id", "42")`.

        Raises ValueError naming the text when it is not `COLUMN=VALUE` with both sides
        non-empty."""
        column, sep, value = text.partition("=")
        if not sep or not column.strip() or not value.strip():
            raise ValueError(f"--key {text!r}: expected COLUMN=VALUE, e.g. customer_id=42")
        return cls(column.strip(), value.strip())


@dataclass(frozen=True)
class ErasedPlace:
    """One place an erasure touched (or, in a dry run, would touch).

    kind: what the place is; name: a table's full name, a landed file's path relative to the
    landing root, an artifact's URI, an online store's name, or `model/version`; rows: the
    subject's rows found there (records for files; 0 for a model version, which is tagged, not
    rewritten); bytes_rewritten: bytes written to remove them (0 in a dry run); malformed: how
    many of `rows` are lines bronze rejects or silver quarantines (a broken line or key that
    still holds the subject: removed too); problem: why the place could not be (fully) erased
    or checked, e.g. a file that cannot be read (None: nothing to say); lines: for a landed
    file, the numbers of the lines removed as bronze numbers them (`_line`, from 1, a CSV's
    header being line 1; `_record_id` is `<name>#<line>`), so the rows ingested from them can
    be found."""

    kind: PlaceKind
    name: str
    rows: int
    bytes_rewritten: int = 0
    malformed: int = 0
    problem: str | None = None
    lines: tuple[int, ...] = ()
