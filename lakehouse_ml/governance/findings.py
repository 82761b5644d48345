"""Governance findings: what the daily audit found, with a severity, and where it is kept.

A finding is `(severity, kind, securable, message)`: `severity` one of SEVERITIES (most severe
first), `kind` a short snake_case name of the rule (`missing_owner`, `unmasked_pii`, ...),
`securable` the full name of what it is about (a table, model, column as `table.column`,
principal, asset key or run), `message` one sentence naming it and why. Messages name `pii`
columns, never their values. `governance.findings` holds one audit day per `audit_date`:
writing a day again replaces that day's rows (idempotent: the same findings again write
nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.ingest.bronze import create_once

CRITICAL, HIGH, MEDIUM, LOW, INFO = "critical", "high", "medium", "low", "info"
SEVERITIES = (CRITICAL, HIGH, MEDIUM, LOW, INFO)
TABLE = "governance.findings"
_UTC = pl.Datetime("us", "UTC")
FINDINGS = pl.Schema({
    "audit_date": pl.Date, "audited_at": _UTC, "severity": pl.String, "kind": pl.String,
    "securable": pl.String, "message": pl.String, "run_id": pl.String,
})
MAX_MESSAGE = 1000
"""Characters of a message kept (longer ones are cut, saying how long they were)."""


@dataclass(frozen=True)
class Finding:
    severity: str
    kind: str
    securable: str
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"invalid finding severity {self.severity!r} ({self.kind} on "
                             f"{self.securable}): one of {', '.join(SEVERITIES)}")


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by kind and securable."""
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.kind, f.securable,
                                           f.message))


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per severity, every severity present (0 when none)."""
    found = Counter(f.severity for f in findings)
    return {severity: found.get(severity, 0) for severity in SEVERITIES}


def critical(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in ordered(findings) if f.severity == CRITICAL]


def frame(findings: Sequence[Finding], day: date, audited_at: datetime, run_id: str
          ) -> pl.DataFrame:
    """`findings` as rows of `FINDINGS` (messages cut to MAX_MESSAGE characters)."""
    def cut(text: str) -> str:
        return text if len(text) <= MAX_MESSAGE else (
            f"{text[:MAX_MESSAGE]}... ({len(text)} characters)")

    return pl.DataFrame([(day, audited_at.astimezone(UTC), f.severity, f.kind, f.securable,
                          cut(f.message), run_id) for f in ordered(findings)],
                        schema=FINDINGS, orient="row")


def create_table(catalog: Catalog) -> None:
    """Create `governance.findings` unless it exists: before the audit's inventory, so the
    audit sees the table it writes from its first run on (and a second run finds the same)."""
    create_once(catalog, TABLE, FINDINGS, TableInfo(
        owner="team:data-eng", comment="The daily governance audit's findings: severity "
        "(critical, high, medium, low, info), kind, securable and message, one audit day per "
        "audit_date.", tags={"layer": "governance"}))


def write_findings(catalog: Catalog, findings: Sequence[Finding], day: date, run_id: str,
                   audited_at: datetime | None = None) -> int:
    """Replace `day`'s rows of `governance.findings` by `findings` (created on first use);
    returns the table's Delta version: unchanged when the day already holds exactly these
    findings (an audit run again finding the same adds no version)."""
    create_table(catalog)
    rows = frame(findings, day, audited_at or datetime.now(UTC), run_id)
    same = ["severity", "kind", "securable", "message"]
    held = catalog.scan(TABLE).filter(pl.col("audit_date") == day).select(same).collect()
    if held.height and held.sort(same).equals(rows.select(same).sort(same)):
        return catalog.version(TABLE)
    return catalog.overwrite(TABLE, rows, predicate=f"audit_date = '{day.isoformat()}'")
