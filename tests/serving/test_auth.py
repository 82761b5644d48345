"""Bearer tokens: created and revoked from the CLI, stored hashed, required by invocations."""

from __future__ import annotations

import time

import httpx
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.tokens import TABLE
from tests.serving.conftest import INVOCATIONS, auth

BODY = {"dataframe_records": [{"customer_id": 5}]}


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    monkeypatch.setenv("LAKEHOUSE_ROOT", settings.root)
    monkeypatch.setenv("LAKEHOUSE_ENV", settings.env)
    result = CliRunner().invoke(app, ["token", *args])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def status_within(server: httpx.Client, token: str, status: int, seconds: float = 5) -> int:
    """Tokens are re-read every poll: wait for the expected answer, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        got = server.post(INVOCATIONS, json=BODY, headers=auth(token)).status_code
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_requests_need_a_valid_token(server: httpx.Client, token: str) -> None:
    assert server.post(INVOCATIONS, json=BODY).status_code == 401
    assert server.post(INVOCATIONS, json=BODY, headers=auth(token + "x")).status_code == 401
    assert server.post(INVOCATIONS, json=BODY, headers=auth("lhm_nope_nope")).status_code == 401
    basic = server.post(INVOCATIONS, json=BODY, headers={"Authorization": f"Basic {token}"})
    assert basic.status_code == 401
    assert basic.headers["www-authenticate"] == "Bearer"
    assert server.post(INVOCATIONS, json=BODY, headers=auth(token)).status_code == 200


def test_cli_token_works_until_revoked_and_is_stored_hashed(
    server: httpx.Client, lakehouse: Settings, lakehouse_catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = _cli(lakehouse, monkeypatch, "create", "--name", "ci-bot")
    assert status_within(server, created, 200) == 200

    stored = lakehouse_catalog.read(TABLE).filter(name="ci-bot")
    assert stored.height == 1
    assert created.split("_", 2)[2] not in str(stored.rows())
    refused = CliRunner().invoke(app, ["token", "create", "--name", "ci-bot"])
    assert refused.exit_code == 1 and "revoke it first" in refused.output

    _cli(lakehouse, monkeypatch, "revoke", "--name", "ci-bot")
    assert status_within(server, created, 401) == 401


def test_health_needs_no_token_and_names_the_served_versions(server: httpx.Client) -> None:
    health = server.get("/health")
    assert health.status_code == 200
    churn = health.json()["endpoints"]["churn_clf"]
    assert (churn["model"], churn["champion"], churn["challenger"]) == (
        "dev.churn.churn_clf", 1, 2)
    assert churn["fast_path"] == {"1": True, "2": True}
