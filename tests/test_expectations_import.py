"""Great Expectations suites: what importing GX costs a run, and that the suite still validates.

Each test runs in a fresh interpreter: whether a module was imported is process-wide state.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
import polars as pl
from lakehouse_ml.medallion.spec import Expectation
from lakehouse_ml.quality.expectations import run_suite

suite = [Expectation("expect_column_values_to_be_between", column="revenue", min_value=0),
         Expectation("expect_column_values_to_not_be_null", column="customer_id")]
result = run_suite("daily", pl.DataFrame({"customer_id": [1, 2, None],
                                          "revenue": [1.0, -2.0, 3.0]}), suite)
ran = {m: m in sys.modules for m in ("scipy.stats._stats_py", "altair.vegalite")}
import scipy.stats  # a later user of a deferred module gets it whole
entropy = float(scipy.stats.entropy([0.5, 0.5]))
print(json.dumps({"success": result.success, "failed": [
    (r["expectation"], r["unexpected_count"]) for r in result.failed],
    "ran": ran, "entropy": entropy, "loaded_after_use": "scipy.stats._stats_py" in sys.modules}))
"""


def test_a_suite_validates_without_running_the_modules_gx_imports_for_unused_expectations():
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["success"] is False  # GX did validate: both expectations fail on one row
    assert sorted(found["failed"]) == [["expect_column_values_to_be_between", 1],
                                       ["expect_column_values_to_not_be_null", 1]]
    # scipy.stats (KL divergence, KS tests) and altair (their charts) were not run
    assert found["ran"] == {"scipy.stats._stats_py": False, "altair.vegalite": False}
    assert found["entropy"] == 0.6931471805599453
    assert found["loaded_after_use"] is True
