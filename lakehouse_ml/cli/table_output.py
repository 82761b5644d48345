"""A command's result table printed as Polars' text table, safely for the process's writers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from lakehouse_ml.governance.audit import close_audit_logs
from lakehouse_ml.governance.lineage import close_lineage_logs


def print_table(frame: pl.DataFrame, echo: Callable[[str], object], **config: Any) -> None:
    """`echo` `frame` as Polars prints it under `polars.Config(**config)` (e.g. `tbl_rows`).

    `polars.Config` keeps its settings in environment variables, and `setenv` is not
    thread-safe: the audit and lineage writers' threads commit to Delta (delta-rs reads the
    environment) and may do so at any moment. So they are closed first (each writes what it
    holds and its thread ends, as at the process's exit). Call it last in a command."""
    close_audit_logs()
    close_lineage_logs()
    with pl.Config(**config):
        echo(str(frame))
