"""What the inference log keeps of a body: secrets dropped, PII hashed, size capped.

Names are compared normalised (NFKC, format characters such as zero-width spaces dropped,
case-folded) with spaces, `-` and `_` removed (`E-Mail `, `user_email`, `ｅｍａｉｌ` and `email`
alike):
- a field whose name contains a secret's (`password`, `token`, `secret`, `apikey`,
  `authorization`, `bearer`, `jwt`, `session`, `creditcard`, ..., or is the word `ssn`, `pwd`,
  `auth`) keeps its name, never its value (`"[redacted]"`);
- a field whose name contains that of a column the catalog tags `pii` keeps
  `"sha256:<hex>"` of its value (each element of a list), so equal values can still be counted
  and joined, not read;
- in `dataframe_split` the same holds by column position;
- a list `[name, value]` whose name is such a field's is a field (`"params": [["password",
  "x"]]`);
- every string (value or name) has the project's bearer tokens (`lhm_<id>_<secret>`),
  `Bearer`/`Basic` credentials and `<secret name>: <value>` / `=<value>` replaced by
  `"[redacted]"`, wherever it appears;
- only the format's rows are kept: every other top-level value (`params`, which the models
  ignore, an unknown key) and every part of a split frame but `columns` and `data` (its
  `index`) is `"[redacted]"`, since nothing names what it holds;
- a body that cannot be redacted with certainty (an object with `columns` and `data` where
  the columns are not all names or a row is not a list of one value per column) keeps only its
  length and sha256, like a body that is not JSON;
- a text above `max_bytes` is cut to a prefix and ends with its length and the sha256 of the
  whole original body;
- a body that is not JSON (so nothing in it can be told apart) keeps only its length and
  sha256;
- a value nested deeper than `MAX_DEPTH` objects/lists is replaced by `"[nested too deeply]"`
  (the walk never recurses further, whatever depth the parser accepted).

Only as much of a document is walked as the prefix needs: every value visited adds at least
one character to the text, so the walk stops after `max_bytes` values.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Collection
from typing import Any

from lakehouse_ml.serving.payload import FORMATS

REDACTED = "[redacted]"
MAX_DEPTH = 64
TOO_DEEP = "[nested too deeply]"
SECRET = re.compile(
    r"passw(or)?d|passphrase|secret|token|apikey|authori[sz]ation|credential|privatekey|"
    r"accesskey|cookie|bearer|jwt|session|creditcard|cardnumber|socialsecurity")
SECRET_WORDS = frozenset({"auth", "pwd", "ssn", "cvv", "pin"})
"""Secrets whose short names are matched only as a whole word of a name (`user_ssn`, not
`classname`)."""
_SEPARATORS = re.compile(r"[\s_-]+")
CREDENTIAL = re.compile(
    r"lhm_[0-9a-f]{16}_\S*|\b(?:bearer|basic)\s+\S+|"
    r"(?:passw(?:or)?d|secret|token|api[\s_-]?key|authori[sz]ation|credential|cookie)"
    r"\s*[:=]\s*(?:(?:bearer|basic)\s+)?\S+", re.IGNORECASE)
"""Credentials inside any string: a project token, an `Authorization`-style `Bearer`/`Basic`
credential, a secret's name followed by `:` or `=` and its value."""
_MAYBE_CREDENTIAL = re.compile(r"lhm_|[\s:=]", re.IGNORECASE)
"""What every match of `CREDENTIAL` contains (`lhm_`, a space, `:` or `=`): a string without
it is left as it is without running `CREDENTIAL` (a tenth of its cost)."""
_REMEMBERED_NAMES, _REMEMBERED_CHARS = 4096, 128
"""A redactor remembers the rule (secret, `pii` or neither) of this many names of at most this
many characters that hold no credential; any other name is worked out each time (a client's
keys cannot grow the memory, and no credential is kept)."""
_SECRET, _PII = "secret", "pii"
_MARGIN = 256
"""A string is scanned up to `max_bytes` plus this many characters (only a prefix of the body
is stored), so a credential that starts in the stored part is seen whole."""


class _Uncertain(Exception):
    """The document cannot be redacted with certainty: only its length and hash are kept."""


def _normal(name: str) -> str:
    """NFKC, format characters (zero-width spaces, joiners, marks) dropped, case-folded."""
    if not name.isascii():
        name = "".join(c for c in unicodedata.normalize("NFKC", name)
                       if unicodedata.category(c) != "Cf")
    return name.casefold()


def _key(name: str) -> str:
    return _SEPARATORS.sub("", _normal(name))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pii_hash(value: Any) -> Any:
    if isinstance(value, list):
        return [pii_hash(v) for v in value]
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return f"sha256:{_sha256(text.encode('utf-8', 'surrogatepass'))}"


class Redactor:
    def __init__(self, pii: Collection[str], max_bytes: int) -> None:
        self.pii = frozenset(_key(c) for c in pii) - {""}
        self.max_bytes = max_bytes
        self._names: dict[str, tuple[str, str | None]] = {}

    def _name(self, name: str) -> tuple[str, str | None]:
        """`name` scrubbed, and its rule: `_SECRET`, `_PII` or None (remembered)."""
        known = self._names.get(name)
        if known is None:
            key = _key(name)
            rule = (_SECRET if SECRET.search(key)
                    or SECRET_WORDS.intersection(_SEPARATORS.split(_normal(name)))
                    else _PII if any(p in key for p in self.pii) else None)
            known = self._scrub(name), rule
            if (known[0] == name and len(name) <= _REMEMBERED_CHARS
                    and len(self._names) < _REMEMBERED_NAMES):
                self._names[name] = known
        return known

    def _masked(self, name: str, value: Any) -> Any | None:
        """The value to store under `name`, or None to walk it as usual."""
        rule = self._name(name)[1]
        if rule == _SECRET:
            return REDACTED
        return pii_hash(value) if rule == _PII else None

    def _walk(self, value: Any, budget: list[int], depth: int = 0) -> Any:
        budget[0] -= 1
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            return TOO_DEEP
        if isinstance(value, dict):
            return self._object(value, budget, depth + 1)
        if isinstance(value, list):
            if len(value) == 2 and isinstance(value[0], str):  # a [name, value] pair
                masked = self._masked(value[0], value[1])
                if masked is not None:
                    budget[0] -= 2
                    return [self._name(value[0])[0], masked]
            out = []
            for item in value:
                if budget[0] <= 0:
                    break
                out.append(self._walk(item, budget, depth + 1))
            return out
        return self._scrub(value) if isinstance(value, str) else value

    def _scrub(self, text: str) -> str:
        """`text` (as much of it as can be stored) with every credential in it redacted."""
        text = text[:self.max_bytes + _MARGIN]
        return CREDENTIAL.sub(REDACTED, text) if _MAYBE_CREDENTIAL.search(text) else text

    def _object(self, value: dict[str, Any], budget: list[int], depth: int) -> dict[str, Any]:
        names = value.get("columns")
        positional = "columns" in value and "data" in value
        if positional and not (
                isinstance(names, list) and all(isinstance(n, str) for n in names)
                and isinstance(value["data"], list)
                and all(isinstance(r, list) and len(r) == len(names) for r in value["data"])):
            raise _Uncertain
        out: dict[str, Any] = {}
        for name, item in value.items():
            if budget[0] <= 0:
                break
            masked = self._masked(name, item)
            stored = self._name(name)[0]
            if masked is not None:
                out[stored] = masked
            elif positional and name == "columns":
                out[stored] = [self._scrub(n) for n in names]  # names, not [name, value] pairs
                budget[0] -= len(names)
            elif positional and name == "data":
                out[stored] = self._walk(self._by_position(names, item[:budget[0]]), budget,
                                         depth)
            elif positional:  # `index` and the like: nothing names what they hold
                out[stored] = REDACTED
            else:
                out[stored] = self._walk(item, budget, depth)
        return out

    def field(self, name: str, value: str) -> tuple[str, str]:
        """(name, value) as stored for one named string: the value `"[redacted]"` under a
        secret's name, `"sha256:<hex>"` under a `pii` column's, else with every credential
        in it redacted; the name scrubbed alike. Neither is capped (see `cap`)."""
        masked = self._masked(name, value)
        return self._name(name)[0], masked if masked is not None else self._scrub(value)

    def _by_position(self, names: list[str], rows: list[Any]) -> list[Any]:
        masks = {i: n for i, n in enumerate(names) if self._masked(n, None) is not None}
        if not masks:
            return rows
        return [[self._masked(masks[i], v) if i in masks else v for i, v in enumerate(row)]
                for row in rows]

    def cap(self, text: str, original: bytes) -> str:
        """`text` if short enough, else its prefix, the original's length and sha256."""
        if len(text) <= self.max_bytes:
            return text
        return (f"{text[:self.max_bytes]}... [truncated: {len(original)} bytes, "
                f"sha256 {_sha256(original)}]")

    def document(self, document: Any, body: bytes) -> str:
        """What to store of a body that parsed as JSON."""
        if isinstance(document, dict):  # only the format's rows: nothing names the rest
            document = {k: v if k in FORMATS else REDACTED for k, v in document.items()}
        try:
            text = json.dumps(self._walk(document, [self.max_bytes]))
        except _Uncertain:
            return self.unparsed(body, "not redactable")
        return self.cap(text, body)

    @staticmethod
    def unparsed(body: bytes, why: str = "not JSON") -> str:
        """What to store of a body that is not JSON (or not redactable, as `why` says)."""
        return f"[{why}: {len(body)} bytes, sha256 {_sha256(body)}]"
