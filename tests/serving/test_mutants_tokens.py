"""Serving tokens (serving/tokens.py) on a real Delta token table, asserted value for value;
these kill the mutants `make mutation` found surviving there (bench/MUTATION.md)."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance.metastore import Metastore
from lakehouse_ml.serving.tokens import (
    CREATE_ACTION,
    REVOKE_ACTION,
    SCHEMA,
    TABLE,
    Caller,
    TokenError,
    TokenStore,
    TokenVerifier,
)
from tests.governance.test_audit_alias_token import records

LOGGER = "lakehouse_ml.serving.tokens"


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the token module logged (not a writer of another module or test)."""
    return [r for r in caplog.records if r.name == LOGGER]


def test_a_token_is_prefix_id_and_a_256_bit_secret_stored_only_as_its_salted_digest(
    catalog: Catalog,
) -> None:
    token = TokenStore(catalog).create("app")
    prefix, token_id, secret = token.split("_", 2)
    row = TokenStore(catalog).active().row(0, named=True)
    assert prefix == "lhm" and row["token_id"] == token_id and row["name"] == "app"
    assert len(bytes.fromhex(token_id)) == 8 and len(bytes.fromhex(row["salt"])) == 16
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert row["digest"] == hashlib.sha256(bytes.fromhex(row["salt"]) + secret.encode()).hexdigest()
    assert secret not in str(catalog.read(TABLE).rows())
    assert row["created_at"] is not None and row["revoked_at"] is None


@pytest.mark.parametrize("name", ["a", "A9", "svc_1.b@c:d-e", "x" * 64])
def test_names_of_1_to_64_allowed_characters_are_accepted(catalog: Catalog, name: str) -> None:
    TokenStore(catalog).create(name)
    assert TokenStore(catalog).active()["name"].to_list() == [name]


@pytest.mark.parametrize("name", ["", "_a", "-a", "x" * 65, "a b", "a/b", "a\n"])
def test_other_names_are_refused(catalog: Catalog, name: str) -> None:
    with pytest.raises(TokenError):
        TokenStore(catalog).create(name)


def test_a_name_holds_one_active_token_until_it_is_revoked(catalog: Catalog) -> None:
    store = TokenStore(catalog)
    first = store.create("app")
    other = store.create("other")
    with pytest.raises(TokenError):
        store.create("app")
    assert store.revoke("app") == 1
    with pytest.raises(TokenError):
        store.revoke("app")
    second = store.create("app")
    verifier = TokenVerifier(store)
    assert (verifier.verify(first), verifier.verify(second), verifier.verify(other)) == (
        None, "app", "other")
    revoked = catalog.read(TABLE).filter(catalog.read(TABLE)["revoked_at"].is_not_null())
    assert revoked["name"].to_list() == ["app"]


def test_a_token_is_refused_with_another_id_or_secret_and_after_revocation(
    catalog: Catalog,
) -> None:
    store = TokenStore(catalog)
    token, other = store.create("app"), store.create("other")
    prefix, token_id, secret = token.split("_", 2)
    other_id = other.split("_", 2)[1]
    verifier = TokenVerifier(store)
    assert verifier.verify(token) == "app"
    for wrong in (f"{prefix}_{other_id}_{secret}", f"{prefix}_{token_id}_{secret[:-1]}",
                  f"{prefix}_{token_id}_{secret}x", f"{prefix}_{token_id}_", f"{prefix}_{token_id}",
                  "", "lhm", "lhm__"):
        assert verifier.verify(wrong) is None, wrong
    store.revoke("app")
    assert verifier.verify(token) == "app", "the verifier holds what it last read"
    verifier.refresh()
    assert verifier.verify(token) is None
    assert verifier.verify(other) == "other"


@contextmanager
def unreadable(catalog: Catalog) -> Iterator[None]:
    """The token table's log corrupted for real (no reader can parse it), restored after."""
    commits = sorted(Path(catalog.location(TABLE), "_delta_log").glob("*.json"))
    originals = [c.read_bytes() for c in commits]
    for commit in commits:
        commit.write_bytes(b"\x00 corrupted")
    try:
        yield
    finally:
        for commit, original in zip(commits, originals, strict=True):
            commit.write_bytes(original)


def test_every_token_is_refused_while_the_table_cannot_be_read_and_accepted_again_after(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    store = TokenStore(catalog)
    token = store.create("app")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        verifier = TokenVerifier(store)
        verifier.refresh()
        assert (verifier.verify(token), verifier.unavailable) == ("app", None)
        assert ours(caplog) == [], "a readable table logs nothing"
        with unreadable(catalog):
            verifier.refresh()
            assert verifier.verify(token) is None
            assert verifier.unavailable == f"token table {TABLE} could not be read"
            verifier.refresh()  # a second failure keeps it closed, and is not logged again
            assert verifier.verify(token) is None
        assert [r.levelname for r in ours(caplog)] == ["ERROR"]
        verifier.refresh()
        assert (verifier.verify(token), verifier.unavailable) == ("app", None)
        assert [r.levelname for r in ours(caplog)] == ["ERROR", "WARNING"]
        assert "readable again: 1 active tokens" in ours(caplog)[1].getMessage()


def test_a_verifier_started_on_an_unreadable_table_logs_the_failure_once(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    store = TokenStore(catalog)
    token = store.create("app")
    with unreadable(catalog), caplog.at_level(logging.WARNING, logger=LOGGER):
        verifier = TokenVerifier(store)
        assert verifier.verify(token) is None
    assert [r.levelname for r in ours(caplog)] == ["ERROR"]


def test_creation_and_revocation_times_are_utc_instants_whatever_the_local_time_zone(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TokenStore(catalog)
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # 9 hours ahead of UTC
    time.tzset()
    try:
        before = datetime.now(UTC)
        store.create("app")
        store.revoke("app")
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    row = catalog.read(TABLE).row(0, named=True)
    assert before <= row["created_at"] <= row["revoked_at"] <= after


def test_tokens_read_longer_ago_than_max_age_are_refused(catalog: Catalog) -> None:
    store = TokenStore(catalog)
    token = store.create("app")
    assert TokenVerifier(store).max_age_seconds == 60.0, "the documented default"
    assert TokenVerifier(store, max_age_seconds=60.0).verify(token) == "app"
    stale = TokenVerifier(store, max_age_seconds=0.0)
    assert stale.verify(token) is None
    assert stale.unavailable is not None
    assert stale.unavailable.startswith(f"token table {TABLE} last read ")
    assert stale.unavailable.endswith(" s ago")


def test_the_token_table_is_registered_as_the_ml_team_s_serving_table(catalog: Catalog) -> None:
    TokenStore(catalog)
    info = catalog.describe(TABLE).info
    assert (info.owner, info.tags) == ("team:ml", {"layer": "serving"})
    comment = ("Bearer tokens of the serving endpoints: name, salted sha256 digest, "
               "creation and revocation times. Tokens themselves are never stored.")
    assert info.comment == comment
    shown = Metastore(catalog.root, catalog.env).resolve(f"{catalog.env}.{TABLE}")
    assert shown.comment == comment, "what `lakehouse-ml catalog describe` shows"


def test_creation_and_revocation_each_leave_one_accounts_record_naming_the_token(
    catalog: Catalog,
) -> None:
    store = TokenStore(catalog)
    app = store.create("app", principal="churn-serving").split("_", 2)[1]
    other = store.create("other", principal="ann").split("_", 2)[1]
    assert store.revoke("app", "other") == 2
    by = {"user": catalog.principal, "service": "accounts", "status": 200}
    assert [{**r, "params": sorted(r["params"])} for r in records(catalog, CREATE_ACTION)] == [
        {**by, "params": [f"id={app}", "name=app", "principal=churn-serving"]},
        {**by, "params": [f"id={other}", "name=other", "principal=ann"]}]
    revoked = [{**r, "params": sorted(r["params"])} for r in records(catalog, REVOKE_ACTION)]
    assert sorted(revoked, key=lambda r: r["params"][1]) == [  # by name: one commit, any order
        {**by, "params": [f"id={app}", "name=app"]},
        {**by, "params": [f"id={other}", "name=other"]}]


def test_a_token_acts_as_the_principal_given_else_as_the_current_one(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_PRINCIPAL", "ann")
    store = TokenStore(catalog)
    mine, theirs = store.create("app"), store.create("svc", principal="churn-serving")
    assert dict(store.active().select("name", "principal").rows()) == {
        "app": "ann", "svc": "churn-serving"}
    verifier = TokenVerifier(store)
    assert (verifier.authenticate(mine), verifier.authenticate(theirs)) == (
        Caller("app", "ann"), Caller("svc", "churn-serving"))


def test_creating_a_token_warns_nothing(catalog: Catalog) -> None:
    store = TokenStore(catalog)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would reach `lakehouse-ml token create`
        store.create("app")
    assert store.active()["name"].to_list() == ["app"]


def test_a_token_table_from_before_principals_still_serves_and_gains_the_column(
    catalog: Catalog,
) -> None:
    old = pl.Schema({k: v for k, v in SCHEMA.items() if k != "principal"})
    catalog.create_table(TABLE, old, TableInfo(owner="team:ml"))
    token_id, salt, secret = "0" * 16, "1" * 32, "legacy-secret"
    digest = hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()
    catalog.append(TABLE, pl.DataFrame(
        [(token_id, "legacy", salt, digest, datetime.now(UTC), None)], schema=old, orient="row"))
    store = TokenStore(catalog)
    active = store.active()
    assert active.schema == SCHEMA and active["principal"].to_list() == [None]
    verifier = TokenVerifier(store)
    legacy = f"lhm_{token_id}_{secret}"
    assert verifier.authenticate(legacy) == Caller("legacy", "legacy"), "acts as its name"
    new = store.create("new", principal="ann")
    assert "principal" in catalog.read(TABLE).columns
    assert dict(store.active().select("name", "principal").rows()) == {
        "legacy": None, "new": "ann"}
    verifier.refresh()
    assert (verifier.authenticate(legacy), verifier.authenticate(new)) == (
        Caller("legacy", "legacy"), Caller("new", "ann"))
