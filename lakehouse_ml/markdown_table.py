"""A data frame as a Markdown table, rendered without `polars.Config`.

`polars.Config` keeps its settings in environment variables: entering and leaving it calls
`setenv`, which is not thread-safe in glibc. A Dagster step rendering a preview that way while
the process's audit writer thread commits to Delta (delta-rs reads the environment) crashed the
process with a segmentation fault (`tests/test_pipeline.py` on a fresh clone, twice). This
renderer reads no setting from anywhere.
"""

from __future__ import annotations

from typing import Any

import polars as pl


def _cell(value: Any, max_chars: int | None, float_precision: int | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and float_precision is not None:
        text = f"{value:.{float_precision}f}"
    else:
        text = str(value)
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(frame: pl.DataFrame, *, max_chars: int | None = None,
                   float_precision: int | None = None) -> str:
    """`frame`'s columns and every row as a GitHub-flavoured Markdown table: a header of the
    column names, then one line per row. A null is `null`; a value's text is cut after
    `max_chars` characters (`…` marks the cut); floats get `float_precision` decimals when
    given; `|` and `\\` are escaped and line breaks become spaces, so a value never breaks
    the table."""
    lines = ["| " + " | ".join(_cell(c, None, None) for c in frame.columns) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(_cell(v, max_chars, float_precision) for v in row) + " |"
              for row in frame.iter_rows()]
    return "\n".join(lines)
