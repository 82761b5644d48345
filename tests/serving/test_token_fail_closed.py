"""Token revocation fails closed: while the token table cannot be read, no token is accepted
(a revoked one could be among them), the server logs why, and tokens work again once the
table can be read."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.tokens import TABLE, TokenStore
from tests.serving.conftest import config, running
from tests.serving.test_auth import status_within


def test_no_token_is_accepted_while_the_token_table_cannot_be_read(
    lakehouse_copy: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env)
    token = TokenStore(catalog).create("closed-test")
    commits = sorted(Path(catalog.location(TABLE), "_delta_log").glob("*.json"))
    originals = [c.read_bytes() for c in commits]
    with caplog.at_level(logging.ERROR, logger="lakehouse_ml.serving.tokens"), \
            running(config(lakehouse_copy)) as client:
        assert status_within(client, token, 200) == 200
        for commit in commits:  # corrupted for real: no reader can parse the table's log
            commit.write_bytes(b"\x00 corrupted")
        try:
            refused = status_within(client, token, 401)
            health = client.get("/health").json()
        finally:
            for commit, original in zip(commits, originals, strict=True):
                commit.write_bytes(original)
        assert refused == 401
        assert health["status"] == "degraded"
        assert health["tokens"] == f"token table {TABLE} could not be read"
        assert status_within(client, token, 200) == 200, "accepted again once readable"
    reasons = [r.getMessage() for r in caplog.records]
    assert any(f"token table {TABLE} could not be read" in m and "refusing every token" in m
               for m in reasons), reasons
