"""Bearer tokens for the serving endpoints, kept hashed in the Delta table `serving.tokens`.

A token reads `lhm_<id>_<secret>`: the id finds its row, the secret is checked against
`sha256(salt + secret)`. A token acts as the principal that created it (`--as` /
`$LAKEHOUSE_PRINCIPAL` / the OS user, as Databricks' personal access tokens act as their
user); its name says what it is for. A token from before principals were recorded acts as the
principal named like the token. The secret is 256 random bits, so a fast salted hash is enough (slow
password hashes such as scrypt defend guessable secrets and would cost milliseconds per
request). The token itself is shown once, at creation, and never stored; its creation and
revocation are audited (`generateDbToken` / `revokeDbToken`, with the token's name and id).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance.metastore import audit
from lakehouse_ml.governance.principals import current_principal

log = logging.getLogger(__name__)

TABLE = "serving.tokens"
PREFIX = "lhm"
ACCOUNTS = "accounts"
CREATE_ACTION, REVOKE_ACTION = "generateDbToken", "revokeDbToken"
"""Databricks' audit actions (service `accounts`) for a personal access token."""
_UTC = pl.Datetime("us", "UTC")
SCHEMA = pl.Schema({
    "token_id": pl.String, "name": pl.String, "salt": pl.String, "digest": pl.String,
    "created_at": _UTC, "revoked_at": _UTC, "principal": pl.String,
})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}")


class TokenError(Exception):
    """A token command that cannot be done (name taken, nothing to revoke)."""


class TokenNameError(TokenError, ValueError):
    """A token name outside the naming rule (a usage error)."""


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class TokenStore:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        catalog.create_table(TABLE, SCHEMA, TableInfo(
            owner="team:ml", tags={"layer": "serving"},
            comment="Bearer tokens of the serving endpoints: name, salted sha256 digest, "
            "creation and revocation times. Tokens themselves are never stored.",
        ))

    def active(self) -> pl.DataFrame:
        """The tokens not revoked, in `SCHEMA` (`principal` null for a token of a table
        written before principals were recorded)."""
        rows = self.catalog.read(TABLE).filter(pl.col("revoked_at").is_null())
        if "principal" not in rows.columns:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias("principal"))
        return rows.select(SCHEMA.names())

    def create(self, name: str, principal: str | None = None) -> str:
        """A new token for `name`, returned once, acting as `principal` (default: the current
        principal, see `governance.current_principal`); a name holds one active token at a
        time."""
        principal = current_principal(principal)
        if not _NAME.fullmatch(name):
            raise TokenNameError(f"token name {name!r}: use 1-64 letters, digits and _.@:- "
                             "(starting with a letter or digit)")
        if self.active().filter(pl.col("name") == name).height:
            raise TokenError(f"an active token named {name!r} exists: revoke it first")
        token_id, salt = secrets.token_hex(8), secrets.token_hex(16)
        secret = secrets.token_urlsafe(32)
        row = (token_id, name, salt, _digest(salt, secret), datetime.now(UTC), None, principal)
        self.catalog.append(TABLE, pl.DataFrame([row], schema=SCHEMA, orient="row"),
                            evolve=True)  # a table from before principals gains the column
        self._audit(CREATE_ACTION, {"name": name, "id": token_id,
                                    "principal": principal})
        return f"{PREFIX}_{token_id}_{secret}"

    def revoke(self, *names: str) -> int:
        """Revoke the active token(s) of every name in one commit; returns how many. Raises
        `TokenError` naming the names without an active token, and then revokes none."""
        if not names:
            raise TokenNameError("no token name given")
        rows = self.active().filter(pl.col("name").is_in(list(names)))
        found = set(rows["name"])
        missing = [n for n in dict.fromkeys(names) if n not in found]
        if missing:
            raise TokenError(f"no active token named {', '.join(map(repr, missing))}: "
                             "nothing revoked")
        revoked = rows.with_columns(pl.lit(datetime.now(UTC), dtype=_UTC).alias("revoked_at"))
        self.catalog.merge(TABLE, revoked, keys=["token_id"])
        for name, token_id in rows.select("name", "token_id").rows():
            self._audit(REVOKE_ACTION, {"name": name, "id": token_id})
        return rows.height

    def _audit(self, action: str, params: dict[str, str]) -> None:
        """One `accounts` record in the audit log, as the catalog's principal (the secret and
        its digest are never in it)."""
        audit(self.catalog.root, self.catalog.env, self.catalog.principal, action, params,
              service=ACCOUNTS)


@dataclass(frozen=True)
class Caller:
    """Who sent a request with a valid token."""

    name: str
    """The token's name."""
    principal: str
    """The principal the token acts as."""


@dataclass(frozen=True)
class _Entry:
    caller: Caller
    salt: str
    digest: str


class TokenVerifier:
    """The active tokens in memory: checking a token is one dict lookup and one sha256.

    `refresh` (run by the server's poller) picks up new and revoked tokens. It fails closed:
    while the token table cannot be read, or was last read more than `max_age_seconds` ago
    (a hung read), every token is refused, since one of them may have been revoked meanwhile;
    `unavailable` then says why, and the first failure is logged.
    """

    def __init__(self, store: TokenStore, max_age_seconds: float = 60.0) -> None:
        self.store, self.max_age_seconds = store, max_age_seconds
        self._active: dict[str, _Entry] = {}
        self._read_at = -math.inf
        self._failure: str | None = None
        self.refresh()

    def refresh(self) -> None:
        try:
            active = {
                r["token_id"]: _Entry(Caller(r["name"], r["principal"] or r["name"]),
                                      r["salt"], r["digest"])
                for r in self.store.active().iter_rows(named=True)
            }
        except Exception as error:
            self._active = {}
            if self._failure is None:
                log.error("token table %s could not be read (%s: %s): refusing every token "
                          "until it can", TABLE, type(error).__name__, error)
            self._failure = f"token table {TABLE} could not be read"
            return
        if self._failure is not None:
            log.warning("token table %s readable again: %d active tokens", TABLE, len(active))
        self._active, self._failure, self._read_at = active, None, time.monotonic()

    @property
    def unavailable(self) -> str | None:
        """Why every token is refused now, or None while tokens can be checked."""
        if self._failure is not None:
            return self._failure
        age = time.monotonic() - self._read_at
        if age > self.max_age_seconds:
            return f"token table {TABLE} last read {age:.0f} s ago"
        return None

    def authenticate(self, token: str) -> Caller | None:
        """The token's name and principal if it is valid and not revoked, else None (always
        None while `unavailable`)."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        entry = self._active.get(token_id) if prefix == PREFIX else None
        if entry is None or not hmac.compare_digest(_digest(entry.salt, secret), entry.digest):
            return None
        return None if self.unavailable else entry.caller

    def verify(self, token: str) -> str | None:
        """The token's name if it is valid and not revoked, else None."""
        caller = self.authenticate(token)
        return None if caller is None else caller.name
