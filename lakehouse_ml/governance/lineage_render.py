"""Lineage answers as Markdown (Dagster metadata, `MetadataValue.md`) and as a self-contained
HTML page with an inline SVG graph (no script, no CDN: it opens from disk anywhere)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from lakehouse_ml.governance.lineage_query import UPSTREAM, LineageAnswer, Link, Vertex

_W, _H, _GAP_X, _GAP_Y, _PAD = 260, 34, 80, 16, 20
_COLOURS = {"TABLE": "#dbeafe", "MODEL": "#fde68a", "PATH": "#e5e7eb"}
_REDACTED_COLOUR = "#f3f4f6"


def versions_text(versions: Sequence[int]) -> str:
    if not versions:
        return "–"
    if len(versions) > 3:
        return f"{versions[0]}…{versions[-1]} ({len(versions)})"
    return ", ".join(map(str, versions))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def lineage_markdown(answer: LineageAnswer, *, max_rows: int = 200) -> str:
    """`answer` as Markdown: a heading naming the root, direction and version, then one
    table row per link (source, target, versions read and written, runs), nearest first; at
    most `max_rows` rows (a last line says how many were left out)."""
    lines = [f"**{answer.direction.capitalize()} lineage of `{_cell(answer.title())}`** "
             f"({len(answer.vertices())} nodes, {len(answer.links)} edges)", ""]
    if not answer.links:
        return "\n".join([*lines, "_No lineage recorded._"])
    lines += ["| depth | source | source versions | target | target versions | runs |",
              "|---:|---|---|---|---|---:|"]
    for link in answer.links[:max_rows]:
        lines.append(f"| {link.depth} | {link.source.type} `{_cell(link.source.label())}` | "
                     f"{versions_text(link.source_versions)} | {link.target.type} "
                     f"`{_cell(link.target.label())}` | {versions_text(link.target_versions)} | "
                     f"{len(link.runs)} |")
    if len(answer.links) > max_rows:
        lines.append(f"\n_{len(answer.links) - max_rows} more edges left out._")
    return "\n".join(lines)


def _layout(answer: LineageAnswer) -> dict[Vertex, tuple[int, int]]:
    """Vertex → (x, y): one column per distance from the root (upstream to the left)."""
    columns: dict[int, list[Vertex]] = {0: [answer.root]}
    for vertex, depth in answer.vertices():
        columns.setdefault(depth, []).append(vertex)
    deepest = max(columns)
    place = {}
    for depth, vertices in columns.items():
        slot = deepest - depth if answer.direction == UPSTREAM else depth
        for row, vertex in enumerate(vertices):
            place[vertex] = (_PAD + slot * (_W + _GAP_X), _PAD + row * (_H + _GAP_Y))
    return place


def _node(vertex: Vertex, x: int, y: int, root: bool) -> str:
    fill = _REDACTED_COLOUR if vertex.redacted else _COLOURS.get(vertex.type, "#ffffff")
    label = vertex.label()
    shown = label if len(label) <= 36 else "…" + label[-35:]
    stroke = ' stroke-width="3"' if root else ""
    return (f'<g><title>{html.escape(vertex.type)} {html.escape(label)}</title>'
            f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" fill="{fill}" '
            f'stroke="#374151"{stroke}/><text x="{x + 8}" y="{y + 21}" font-size="12" '
            f'font-family="monospace">{html.escape(vertex.type[0])} '
            f"{html.escape(shown)}</text></g>")


def _edge(link: Link, place: dict[Vertex, tuple[int, int]]) -> str:
    if link.source not in place or link.target not in place:
        return ""
    (x1, y1), (x2, y2) = place[link.source], place[link.target]
    start, end = (x1 + _W, y1 + _H // 2), (x2, y2 + _H // 2)
    if x2 <= x1:  # same column or backwards: go around below
        start, end = (x1 + _W // 2, y1 + _H), (x2 + _W // 2, y2 + _H)
    middle = (start[0] + end[0]) // 2
    title = (f"{link.source.label()} {versions_text(link.source_versions)} → "
             f"{link.target.label()} {versions_text(link.target_versions)}")
    return (f'<path d="M{start[0]},{start[1]} C{middle},{start[1]} {middle},{end[1]} '
            f'{end[0]},{end[1]}" fill="none" stroke="#6b7280" marker-end="url(#arrow)">'
            f"<title>{html.escape(title)}</title></path>")


def _svg(answer: LineageAnswer) -> str:
    place = _layout(answer)
    width = max(x for x, _ in place.values()) + _W + _PAD
    height = max(y for _, y in place.values()) + _H + _PAD
    edges = "".join(_edge(link, place) for link in answer.links)
    nodes = "".join(_node(v, x, y, v == answer.root) for v, (x, y) in place.items())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img"><defs><marker id="arrow" '
            'viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/>'
            f"</marker></defs>{edges}{nodes}</svg>")


def _table(answer: LineageAnswer) -> str:
    rows = "".join(
        f"<tr><td>{link.depth}</td><td>{html.escape(link.source.type)} "
        f"{html.escape(link.source.label())}</td><td>{versions_text(link.source_versions)}</td>"
        f"<td>{html.escape(link.target.type)} {html.escape(link.target.label())}</td>"
        f"<td>{versions_text(link.target_versions)}</td><td>{len(link.runs)}</td></tr>"
        for link in answer.links)
    return ("<table><tr><th>depth</th><th>source</th><th>versions read</th><th>target</th>"
            f"<th>versions written</th><th>runs</th></tr>{rows}</table>")


def lineage_html(answers: Sequence[LineageAnswer], title: str = "Lineage") -> str:
    """One self-contained HTML page: per answer, a heading, an SVG graph (upstream to the
    left of the root, downstream to the right; hover a node or edge for its full name and
    versions) and the table of its edges. Names are HTML-escaped; redacted nodes are grey."""
    sections = []
    for answer in answers:
        sections.append(f"<section><h2>{html.escape(answer.direction.capitalize())} of "
                        f"<code>{html.escape(answer.title())}</code></h2><div class=\"graph\">"
                        f"{_svg(answer)}</div>{_table(answer)}</section>")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #d1d5db;padding:2px 8px;font-size:13px}"
             ".graph{overflow:auto;border:1px solid #e5e7eb}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title)}</title><style>{style}</style></head><body><h1>"
            f"{html.escape(title)}</h1>{''.join(sections)}</body></html>")
