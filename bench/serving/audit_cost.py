"""CPU time per audit record of a serving request, in-process on a temporary lakehouse.

    python -m bench.serving.audit_cost [--records 4000] [--batch 200]

Records what serving records per request (`queryEndpoint` with its endpoint, request id and
model versions) in batches of `--batch` (200: one second at 200 requests/s, the writer's
default interval) and reports, per record, the caller's CPU (`record`: what a request pays)
and the flush's (redaction, hash chain, Delta commit and head checkpoint: what the writer
thread costs the process). CPU time, so waits for a core are not counted; a loaded machine
still inflates it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.audit import AuditLog
from lakehouse_ml.serving.authorization import QUERY, SERVICE


def cost(records: int, batch: int) -> tuple[float, float]:
    """(caller µs, flush µs) per record."""
    with tempfile.TemporaryDirectory() as root:
        log = AuditLog(Catalog(root, "dev", governed=False), flush_rows=10**9,
                       flush_seconds=3600)
        try:
            recorded = flushed = 0.0
            for round_ in range(-1, records // batch):  # round -1 warms up (creates the table)
                params = [{"endpoint": "churn_clf", "request_id": os.urandom(16).hex(),
                           "model_versions": "3"} for _ in range(batch)]
                started = time.thread_time()
                for p in params:
                    log.record(user="churn-serving", service=SERVICE, action=QUERY, params=p,
                               source="serving")
                spent = time.thread_time() - started
                started = time.process_time()
                log.flush()
                if round_ >= 0:
                    recorded, flushed = recorded + spent, flushed + time.process_time() - started
        finally:
            log.close()
    count = records // batch * batch
    return recorded / count * 1e6, flushed / count * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args(argv)
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    caller, flush = cost(args.records, args.batch)
    print(f"record {caller:.1f} µs (caller), flush {flush:.1f} µs per record "
          f"(batches of {args.batch}; load {load})")


if __name__ == "__main__":
    main()
