"""A serving token acts as the principal that created it; older tokens as the principal named
like them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.serving.tokens import SCHEMA, TABLE, Caller, TokenStore, TokenVerifier


def test_a_token_acts_as_its_creator_or_the_principal_given(
        catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PRINCIPAL", "churn-serving")
    store = TokenStore(catalog)
    mine, theirs = store.create("app"), store.create("batch", principal="alice@example.com")
    verifier = TokenVerifier(store)
    assert verifier.authenticate(mine) == Caller("app", "churn-serving")
    assert verifier.authenticate(theirs) == Caller("batch", "alice@example.com")
    assert verifier.verify(mine) == "app"
    assert verifier.authenticate(mine + "x") is None
    with pytest.raises(ValueError, match="invalid principal name"):
        store.create("bad", principal="a`b")


def test_a_token_table_from_before_principals_keeps_working(catalog: Catalog) -> None:
    old = pl.Schema({c: d for c, d in SCHEMA.items() if c != "principal"})
    catalog.create_table(TABLE, old, TableInfo(owner="team:ml"))
    salt, secret = "00" * 16, "s3cret"
    digest = hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()
    catalog.append(TABLE, pl.DataFrame([("0123456789abcdef", "legacy-app", salt, digest,
                                         datetime.now(UTC), None)], schema=old, orient="row"))
    store = TokenStore(catalog)
    legacy = TokenVerifier(store).authenticate(f"lhm_0123456789abcdef_{secret}")
    assert legacy == Caller("legacy-app", "legacy-app")
    new = store.create("new-app", principal="churn-serving")
    assert catalog.schema(TABLE)["principal"] == pl.String
    verifier = TokenVerifier(store)
    assert verifier.authenticate(new) == Caller("new-app", "churn-serving")
    assert verifier.authenticate(f"lhm_0123456789abcdef_{secret}") == legacy


def test_the_cli_creates_a_token_on_behalf_of_a_principal(catalog: Catalog) -> None:
    from typer.testing import CliRunner

    from lakehouse_ml.cli.app import app

    result = CliRunner().invoke(app, ["token", "create", "--name", "app",
                                      "--principal", "churn-serving"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    caller = TokenVerifier(TokenStore(catalog)).authenticate(token)
    assert caller == Caller("app", "churn-serving")
