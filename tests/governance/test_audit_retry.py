"""A background writer whose lakehouse stays unwritable (its root removed or replaced) backs
off: the retry interval doubles per failed write up to a minute, instead of retrying and
logging an error every interval for as long as the process lives."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from lakehouse_ml.catalog import Catalog
from tests.governance.audit_support import rows, writer


def test_an_unwritable_lakehouse_is_retried_less_and_less_often_and_written_once_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "lakehouse"
    root.write_text("not a directory")  # every write fails while this file is there
    catalog = Catalog(str(root), "dev")
    with writer(catalog, flush_seconds=0.01) as log, caplog.at_level(logging.ERROR):
        log.record(user="u", service="unityCatalog", action="getTable")
        time.sleep(1.5)
        retries = [r for r in caplog.records if "will retry" in r.getMessage()]
        # at a fixed 10 ms interval this is ~150 tries; doubling from 10 ms, at most 8
        assert 2 <= len(retries) <= 8, len(retries)
        root.unlink()
    assert rows(catalog).height == 1, "the buffered record is written once the root is back"
