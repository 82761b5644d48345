"""Great Expectations suites over polars frames (GX validates pandas, so we hand it one).

GX is imported here and only when a suite runs: importing it costs seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from lakehouse_ml.medallion.spec import Expectation


@dataclass(frozen=True)
class SuiteResult:
    success: bool
    results: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]


def _class_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_"))


def _pandas(df: pl.DataFrame) -> Any:
    """`df` for GX. Float columns keep NaN apart from null (pyarrow-backed), so NaN fails
    every range expectation instead of being skipped as missing (null still is skipped)."""
    frame = df.to_pandas()
    for column in df.columns:
        if df[column].dtype.is_float():
            frame[column] = df[column].to_pandas(use_pyarrow_extension_array=True)
    return frame


def run_suite(name: str, df: pl.DataFrame, expectations: Sequence[Expectation]) -> SuiteResult:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe(name)
        .get_batch(batch_parameters={"dataframe": _pandas(df)})
    )
    suite = gx.ExpectationSuite(name=name)
    for expectation in expectations:
        try:
            cls = getattr(gx.expectations, _class_name(expectation.kind))
        except AttributeError as error:
            raise ValueError(f"suite {name}: unknown expectation {expectation.kind!r}") from error
        suite.add_expectation(cls(**expectation.kwargs))
    outcome = batch.validate(suite)
    results = []
    for item in outcome.results:
        config = item.expectation_config
        detail = item.result or {}
        results.append({
            "expectation": config.type,
            "kwargs": {k: v for k, v in config.kwargs.items() if k != "batch_id"},
            "success": bool(item.success),
            "unexpected_count": detail.get("unexpected_count"),
            "observed_value": detail.get("observed_value"),
            "sample": [str(v) for v in detail.get("partial_unexpected_list", [])[:5]],
        })
    return SuiteResult(bool(outcome.success), results)
