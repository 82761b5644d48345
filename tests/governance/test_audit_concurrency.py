"""Several processes appending to one audit log at once: one unbroken chain, no record lost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from lakehouse_ml.catalog import Catalog
from tests.governance.audit_support import cli, rows

WRITER = """
import sys, time
from pathlib import Path
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.audit import AuditLog

root, name, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
log = AuditLog(Catalog(root, "dev"), flush_rows=10, flush_seconds=0.01)
(go.parent / name).touch()  # ready
while not go.exists():
    time.sleep(0.01)
for i in range(n):
    print(log.record(user=name, service="unityCatalog", action="getTable"), flush=True)
    time.sleep(0.005)  # a few records per flush: the writers' commits interleave
"""  # no flush: what is left is written at exit


def test_two_processes_one_chain(catalog: Catalog, tmp_path: Path) -> None:
    go = tmp_path / "go"
    writers = [subprocess.Popen(
        [sys.executable, "-c", WRITER, catalog.root, name, "150", str(go)],
        stdout=subprocess.PIPE, text=True) for name in ("cli", "pipeline")]
    deadline = time.monotonic() + 60
    while not all((tmp_path / n).exists() for n in ("cli", "pipeline")):
        assert time.monotonic() < deadline and all(w.poll() is None for w in writers)
        time.sleep(0.05)
    go.touch()
    ids = {}
    for name, process in zip(("cli", "pipeline"), writers, strict=True):
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        ids[name] = out.split()
    frame = rows(catalog)
    assert frame["sequence"].to_list() == list(range(1, 301))
    assert frame["prev_hash"].to_list()[1:] == frame["hash"].to_list()[:-1]
    for name, written in ids.items():  # every record, in each writer's order
        mine = frame.filter(frame["user_identity"].struct.field("email") == name)
        assert mine["request_id"].to_list() == written
    assert frame["user_identity"].struct.field("email")[:150].n_unique() == 2  # interleaved
    assert cli("audit", "verify").exit_code == 0
