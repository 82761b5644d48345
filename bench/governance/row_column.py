"""Overhead of a row filter and a column mask on a 1M-row Delta read (issue 13, goal <= 10%).

    .venv/bin/python -m bench.governance.row_column [--rows N] [--repeats R]

A temporary lakehouse with `silver.customers` (customer_id, email, tenant_id, plan_tier,
amount; 10 tenants) and the churn policy applied (lakehouse_ml/domains/churn/policy.yaml:
email masked to '***' unless `pii-readers`, rows filtered by `tenant-<tenant_id>` group
membership unless `all-tenants`). Each repeat reads the whole table, in turn, plain
(`scan().collect()`) and governed (`secure(scan(), ...).collect()`) as:

- `every_tenant_group`: a reader in all ten tenant groups: the filter is evaluated on every
  row and keeps them all, every email is masked (one mask and one filter, the worst case);
- `all_tenants_masked`: an `all-tenants` reader (the filter folds to TRUE), emails masked;
- `one_tenant_masked`: a reader of tenant t-03 (~10% of the rows kept);
- `filter_only`: as `every_tenant_group`, also in `pii-readers` (the mask folds away): the
  email column is read in clear, the filter evaluated on every row;
- `null_keeping_mask`: as `every_tenant_group`, with a mask that reads the column
  (`CASE WHEN email IS NULL THEN NULL ELSE '***' END`): one mask and one filter, every
  column read (the headline figure);
- `regexp_mask`: as `every_tenant_group`, with a mask that rewrites every string
  (`regexp_replace(email, '^[^@]*', '***')`, keeping the domain) instead of a constant.

A constant mask makes the read cheaper than the plain one: the masked column is then not read
from the files at all (projection pushdown).

Prints the medians and the overheads against the plain read as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance import USER, Metastore
from lakehouse_ml.governance.policy import apply_policy
from lakehouse_ml.governance.row_column import secure
from lakehouse_ml.governance.sql import run_sql

POLICY = Path(__file__).parents[2] / "lakehouse_ml" / "domains" / "churn" / "policy.yaml"
TABLE = "silver.customers"
# the same rows (secure is given the frame) under other policies
REGEXP, NULLS = "silver.customers_regexp", "silver.customers_nulls"
MASKS = {REGEXP: "regexp_replace(email, '^[^@]*', '***')",
         NULLS: "CASE WHEN email IS NULL THEN NULL ELSE '***' END"}


def rows(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    ids = np.arange(1, n + 1)
    return pl.DataFrame({
        "customer_id": ids,
        "email": [f"user{i}@example{i % 97}.com" for i in ids],
        "tenant_id": [f"t-{t:02d}" for t in rng.integers(0, 10, n)],
        "plan_tier": rng.choice(["basic", "pro", "enterprise"], n),
        "amount": rng.gamma(2.0, 30.0, n),
    })


def timed(read: Callable[[], pl.DataFrame]) -> tuple[float, int]:
    start = time.perf_counter()
    height = read().height
    return time.perf_counter() - start, height


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="python -m bench.governance.row_column")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(str(Path(tmp) / "lake"), "dev")
        data = rows(args.rows)
        for table in (TABLE, *MASKS):
            catalog.create_table(table, data.schema, TableInfo(owner="data-eng"))
        uri = catalog.location(TABLE)
        catalog.lake.append(uri, data, label=TABLE)
        apply_policy(POLICY.parents[1] / "policy.yaml", metastore=Metastore(catalog.root, "dev"))
        m = apply_policy(POLICY, metastore=Metastore(catalog.root, "dev"))  # after the project's
        for user in ("ivy", "tara", "tom", "pat"):
            m.add_principal(user, USER)
        m.add_member("ml", "ivy")
        m.add_member("tenant-t-03", "tara")
        m.add_member("pii-readers", "pat")
        for tenant in range(10):
            m.add_member(f"tenant-t-{tenant:02d}", "tom")
            m.add_member(f"tenant-t-{tenant:02d}", "pat")
        for i, (table, body) in enumerate(MASKS.items()):
            run_sql(m, f"CREATE FUNCTION silver.mask{i}(email STRING) RETURNS STRING "
                       f"RETURN {body}")
            run_sql(m, f"ALTER TABLE {table} ALTER COLUMN email SET MASK silver.mask{i}")
            run_sql(m, f"ALTER TABLE {table} SET ROW FILTER silver.tenant_rows ON (tenant_id)")

        def plain() -> pl.DataFrame:
            return catalog.lake.scan(uri).collect()

        def governed(principal: str, table: str = TABLE) -> Callable[[], pl.DataFrame]:
            return lambda: secure(catalog.lake.scan(uri), table, principal, m).collect()

        reads = {"plain": plain, "every_tenant_group": governed("tom"),
                 "all_tenants_masked": governed("ivy"), "one_tenant_masked": governed("tara"),
                 "filter_only": governed("pat"), "null_keeping_mask": governed("tom", NULLS),
                 "regexp_mask": governed("tom", REGEXP)}
        for read in reads.values():  # warm the file cache and the translation cache
            read()
        times: dict[str, list[float]] = {name: [] for name in reads}
        heights: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, read in reads.items():
                seconds, heights[name] = timed(read)
                times[name].append(seconds)
        frame = catalog.lake.scan(uri)
        start = time.perf_counter()
        for _ in range(1000):
            secure(frame, "silver.events", "ivy", m)  # a table without policy
        untouched_us = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        for _ in range(100):
            secure(frame, TABLE, "ivy", m)  # plan only (translation cached)
        plan_us = (time.perf_counter() - start) * 10_000
    median = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "rows": args.rows, "repeats": args.repeats,
        "median_s": {k: round(v, 4) for k, v in median.items()},
        "rows_returned": heights,
        "overhead_pct": {k: round(100 * (v / median["plain"] - 1), 1)
                         for k, v in median.items() if k != "plain"},
        "secure_no_policy_us": round(untouched_us, 1),
        "secure_plan_us": round(plan_us, 1),
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
