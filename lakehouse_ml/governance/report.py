"""The governance audit as a report: Markdown (Dagster's UI) and an HTML page on disk.

Both show the same sections: the findings (most severe first), each champion (promotion,
gates, every table and landed file it comes from as the lineage tables record it, with the
versions read and the tables' check results), pii columns
(names and masks, never values), the inventory, the grants flagged, failed runs, denied
attempts and the audit chain. Markdown lists at most `MAX_MARKDOWN_ROWS` rows per section
(saying how many more the HTML page holds); the page lists all. Beside the page, the
champions' lineage as a graph (`lineage_path`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lakehouse_ml.governance.findings import counts
from lakehouse_ml.governance.findings_audit import Audit
from lakehouse_ml.governance.findings_models import Champion, Upstream
from lakehouse_ml.governance.lineage import TABLE
from lakehouse_ml.governance.lineage_render import lineage_html, versions_text

MAX_MARKDOWN_ROWS = 40
MAX_CELL = 300


@dataclass(frozen=True)
class Section:
    title: str
    headers: tuple[str, ...]
    rows: list[tuple[object, ...]]
    note: str = ""


def _quality(found: Upstream) -> str:
    if found.type != TABLE:
        return "landed file"
    return ", ".join(f"{r.check} {'passed' if r.passed else 'FAILED ' + r.severity}"
                     for r in found.checks) or "no check result"


def _lineage(found: Champion) -> Section:
    rows = [(u.name, versions_text(u.versions), u.type, u.depth, _quality(u))
            for u in found.upstream]
    promoted = (f"promoted by {found.promoted_by} at {found.promoted_at.isoformat()} "
                f"({found.reason})" if found.promoted_by and found.promoted_at else
                "no alias record of its promotion")
    gates = "; ".join(f"{g}: {v}" for g, v in found.gates.items()) or "none recorded"
    recorded = ("every table (with the Delta versions read) and landed file it comes from, "
                "nearest first, as the lineage tables record it, with the latest result of "
                "each table's asset checks" if found.upstream else
                "none recorded in governance.table_lineage")
    note = (f"{promoted}. Validation: {found.validation_status or 'not set'}; gates: {gates}. "
            f"MLflow run {found.run_id or 'unknown'}. Lineage: {recorded}.")
    return Section(f"Champion {found.model} version {found.version}",
                   ("table or landed file", "versions read", "type", "hops", "data quality"),
                   rows, note)


def sections(audit: Audit) -> list[Section]:
    flagged = [g for g in audit.grants if g.risk]
    return [
        Section("Findings", ("severity", "kind", "securable", "message"),
                [(f.severity, f.kind, f.securable, f.message) for f in audit.findings],
                audit.empty),
        *(_lineage(c) for c in audit.champions),
        Section("PII columns", ("table", "column", "masked", "mask", "readers besides owner"),
                [(p.table, p.column, "yes" if p.masked else "NO", p.mask,
                  ", ".join(p.readers)) for p in audit.pii]),
        Section("Inventory", ("type", "name", "owner", "description", "tags"),
                [(r.type, r.name, r.owner, r.description,
                  ", ".join(f"{k}={v}" for k, v in sorted(r.tags.items())))
                 for r in audit.inventory]),
        Section("Grants flagged", ("securable", "principal", "privilege", "risk"),
                [(g.securable, g.principal, g.privilege, g.risk) for g in flagged],
                f"{len(audit.grants)} grants in all."),
        Section("Failed runs (last day)", tuple(audit.failed_runs.columns),
                list(audit.failed_runs.rows())),
        Section("Denied attempts (last day)", tuple(audit.denied.columns),
                list(audit.denied.rows())),
    ]


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL else f"{text[:MAX_CELL]}..."


def _summary(audit: Audit) -> str:
    found = ", ".join(f"{n} {s}" for s, n in counts(audit.findings).items())
    return (f"{len(audit.findings)} findings ({found}); {len(audit.inventory)} tables and "
            f"models, {len(audit.pii)} pii columns, {len(audit.grants)} grants, "
            f"{len(audit.champions)} champions. Audit chain: {audit.chain}.")


def markdown(audit: Audit, page: str = "") -> str:
    """The report as Markdown; `page`: where the HTML report is (named at the top)."""
    lines = [f"# Governance audit {audit.day.isoformat()}", "", _summary(audit)]
    if page:
        lines += ["", f"HTML report: `{page}`; the champions' lineage graph: "
                  f"`{lineage_path(Path(page))}`"]
    for section in sections(audit):
        lines += ["", f"## {section.title}", ""]
        if section.note:
            lines += [section.note, ""]
        if not section.rows:
            lines.append("none")
            continue
        lines += ["| " + " | ".join(section.headers) + " |",
                  "|" + "---|" * len(section.headers)]
        lines += ["| " + " | ".join(_cell(v).replace("|", "\\|").replace("\n", " ")
                                    for v in row) + " |"
                  for row in section.rows[:MAX_MARKDOWN_ROWS]]
        if len(section.rows) > MAX_MARKDOWN_ROWS:
            lines.append(f"\n... {len(section.rows) - MAX_MARKDOWN_ROWS} more in the HTML "
                         "report")
    return "\n".join(lines)


def _html_table(headers: Sequence[str], rows: Sequence[tuple[object, ...]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_page(audit: Audit) -> str:
    title = f"Governance audit {audit.day.isoformat()}"
    graph = lineage_path(Path(f"{audit.day.isoformat()}.html")).name
    parts = [f"<h1>{html.escape(title)}</h1><p>{html.escape(_summary(audit))}</p>"
             f'<p><a href="{graph}">The champions\' lineage graph</a></p>']
    for section in sections(audit):
        note = f"<p>{html.escape(section.note)}</p>" if section.note else ""
        parts.append(f"<h2>{html.escape(section.title)}</h2>{note}"
                     f"{_html_table(section.headers, section.rows)}")
    return (f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
            "collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style>"
            f"</head><body>{''.join(parts)}</body></html>")


def report_path(root: str, env: str, audit: Audit) -> Path:
    """`<root>/<env>/_governance/reports/<audit day>.html` (a local root)."""
    return (Path(root.removeprefix("file://")) / env / "_governance" / "reports"
            / f"{audit.day.isoformat()}.html")


def lineage_path(report: Path) -> Path:
    """The champions' lineage graph page beside `report`: `<audit day>.lineage.html`."""
    return report.with_suffix(".lineage.html")


def _write(path: Path, text: str) -> None:
    staging = path.with_suffix(".tmp")
    staging.write_text(text, encoding="utf-8")
    staging.replace(path)


def write_report(root: str, env: str, audit: Audit) -> Path:
    """Write (replace) the audit day's HTML report and the champions' lineage graph page
    (`lineage_path`, `lineage_render.lineage_html`); returns the report's path."""
    path = report_path(root, env, audit)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, html_page(audit))
    answers = [c.lineage for c in audit.champions if c.lineage is not None]
    _write(lineage_path(path), lineage_html(answers, f"Champions' lineage {audit.day}"))
    return path
