"""Monitor declarations a domain must not be able to make: each is refused when declared,
with an error naming the monitor (or threshold) and the field, instead of windows per row, a
threshold that never (or always) fires, or a crash at the first refresh."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lakehouse_ml.monitoring.spec import (
    MAX_SLICING_EXPRS,
    DriftThreshold,
    InferenceLog,
    LabelJoin,
    Monitor,
    RetrainingPolicy,
)

NAN, INF = float("nan"), float("inf")


def series(**fields: Any) -> Monitor:
    return Monitor("gold.t", "time_series", timestamp_col="ts", **fields)


@pytest.mark.parametrize(("declare", "message"), [
    (lambda: series(granularity=timedelta(0)), "granularity must be in 0:01:00 .. 366 days"),
    (lambda: series(granularity=-timedelta(days=1)), "granularity must be in"),
    (lambda: series(granularity=timedelta(microseconds=1)), "got 0:00:00.000001"),
    (lambda: series(granularity=timedelta(days=10**6)), "got 1000000 days"),
    (lambda: Monitor("t", "snapshot"), "monitor of t: table must be 'schema.table'"),
    (lambda: Monitor("a.b.c", "snapshot"), "table must be 'schema.table'"),
    (lambda: series(slicing_exprs=("tier", "tier")), "slicing_exprs must be distinct and not "
                                                     "blank, got 'tier'"),
    (lambda: series(slicing_exprs=(" ",)), "slicing_exprs must be distinct"),
    (lambda: series(slicing_exprs=tuple(f"c{i}" for i in range(MAX_SLICING_EXPRS + 1))),
     f"{MAX_SLICING_EXPRS + 1} slicing expressions"),
    (lambda: series(columns=("x", "x")), "columns must be distinct"),
    (lambda: series(freshness=timedelta(0)), "freshness must be positive"),
])
def test_bad_monitors_are_refused(declare: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        declare()


@pytest.mark.parametrize(("metric", "warn", "error", "extra", "message"), [
    ("js_distance", NAN, 0.2, {}, "drift threshold 'js_distance': warn must be a finite "
                                  "number, got nan"),
    ("js_distance", 0.1, INF, {}, "error must be a finite number, got inf"),
    ("js_distance", 0.5, 0.1, {}, "distance bounds need 0 <= warn <= error, got warn=0.5"),
    ("wasserstein_distance", -1.0, 2.0, {}, "0 <= warn <= error"),
    ("ks_test.pvalue", 0.01, 0.05, {}, "p-value bounds need 0 <= error <= warn <= 1"),
    ("chi_squared_test.pvalue", 5.0, 0.01, {}, "0 <= error <= warn <= 1"),
    ("js_distance", 0.1, 0.2, {"max_pvalue": NAN}, "max_pvalue must be a finite number"),
    ("js_distance", 0.1, 0.2, {"max_pvalue": 1.5}, "max_pvalue must be in [0, 1]"),
])
def test_bad_thresholds_are_refused(metric: str, warn: float, error: float,
                                    extra: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        DriftThreshold(metric, warn=warn, error=error, **extra)


def test_good_thresholds_and_signed_deltas_are_accepted() -> None:
    DriftThreshold("ks_test.pvalue", warn=0.05, error=0.01)
    DriftThreshold("population_stability_index", warn=0.1, error=0.25, max_pvalue=0.01)
    DriftThreshold("avg_delta", warn=-1.0, error=-2.0)  # a delta may watch a fall


@pytest.mark.parametrize(("declare", "message"), [
    (lambda: InferenceLog("m", "p", threshold=NAN), "threshold must be a finite number"),
    (lambda: InferenceLog("m", "p", threshold=1.5), r"threshold must be in \[0, 1\]"),
    (lambda: LabelJoin("silver.l", (), "t", "y"), "keys must name at least one column"),
    (lambda: LabelJoin("silver.l", ("k",), "t", "y", tolerance=-timedelta(days=1)),
     "tolerance must be in 0:00:00 .. 366 days"),
    (lambda: LabelJoin("silver.l", ("k",), "t", "y", tolerance=timedelta(days=10**5)),
     "tolerance must be in"),
    (lambda: RetrainingPolicy("m", min_columns=0), "min_columns must be at least 1"),
    (lambda: RetrainingPolicy("m", min_roc_auc=NAN), "min_roc_auc must be a finite number"),
    (lambda: RetrainingPolicy("m", min_roc_auc=2.0), r"min_roc_auc must be in \[0, 1\]"),
    (lambda: RetrainingPolicy("m", cooldown=-timedelta(hours=1)), "cooldown must not be "
                                                                   "negative"),
])
def test_bad_inference_logs_labels_and_policies_are_refused(declare: Any, message: str
                                                            ) -> None:
    with pytest.raises(ValueError, match=message):
        declare()
