"""`make mutation`'s fork server imports bench/mutation_preload.txt before forking a worker per
mutant: if that import starts polars' thread pool, every worker deadlocks in its first parallel
polars operation and each mutant counts as a timeout, i.e. killed. Module-level polars work in
the listed modules (a literal datetime, a frame built at import) starts it."""

from __future__ import annotations

import re
import subprocess
import sys

from bench.mutation import _PROBE, REPO


def test_importing_the_preload_list_starts_no_polars_thread() -> None:
    listed = (REPO / "bench" / "mutation_preload.txt").read_text().splitlines()
    modules = [line.strip() for line in listed if line.strip() and not line.startswith("#")]
    assert "lakehouse_ml.domains.churn" in modules and "lakehouse_ml.governance.audit" in modules
    threads = subprocess.run([sys.executable, "-c", _PROBE, *modules], check=True, text=True,
                             capture_output=True, cwd=REPO, timeout=300).stdout.split()
    assert threads  # the probe printed the process's threads
    assert not [t for t in threads if re.fullmatch(r"polars-\d+", t)], threads
