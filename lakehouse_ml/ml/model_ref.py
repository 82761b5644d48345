"""A model reference as MLflow users write one: `NAME`, `NAME/VERSION` or `NAME@ALIAS`, with
or without MLflow's `models:/` prefix (`models:/dev.churn.churn_clf@champion`). Every command
that takes a model and a version parses it here, so the forms and errors are the same
everywhere; an alias is resolved through the registry at the time of the call, never cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlflow import MlflowClient

from lakehouse_ml.ml.registry import alias_version

MAX_REF = 1024
"""Longest reference accepted (characters)."""
_REF = re.compile(r"(?:models:/)?(?P<name>[^/@\s]+)"
                  r"(?:/(?P<version>[0-9]{1,9})|@(?P<alias>[\w-]{1,255}))?")
"""An alias as MLflow allows (letters, digits, '_' and '-', at most 255 characters)."""
FORMS = "MODEL, MODEL/VERSION or MODEL@ALIAS"


class InvalidModelRef(ValueError):
    """A reference that is not one of `FORMS` (a usage error)."""


class UnknownModelRef(LookupError):
    """A model or alias that the registry does not hold; the message names it."""


@dataclass(frozen=True)
class ModelRef:
    """`name` as typed (short, `schema.model` or full: each command resolves it), and at most
    one of `version` (>= 1) and `alias`."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str, *, lowest: int = 1) -> ModelRef:
        """`text` as a reference; InvalidModelRef naming it and the forms otherwise. `lowest`:
        the first version (0 where a name may also be a Delta table's)."""
        found = _REF.fullmatch(text) if len(text) <= MAX_REF else None
        if found is None or (found["version"] is not None and int(found["version"]) < lowest):
            shown = text if len(text) <= 80 else f"{text[:80]}..."
            raise InvalidModelRef(f"{shown!r} is not {FORMS} (a version is a number >= "
                                  f"{lowest}; an alias has letters, digits, '_' and '-')")
        version = found["version"]
        return cls(found["name"], int(version) if version is not None else None, found["alias"])

    def version_in(self, client: MlflowClient, registered: str) -> int | None:
        """The version meant of the registered model `registered`: the one named, the one the
        alias points to now, or None when neither is given. UnknownModelRef when the alias (or
        the model) is not registered; TrackingUnavailable when the registry cannot be
        reached."""
        if self.alias is None:
            return self.version
        version = alias_version(client, registered, self.alias)
        if version is not None:
            return version
        if client.search_registered_models(f"name = '{registered}'", max_results=1):
            raise UnknownModelRef(f"model {registered} has no alias {self.alias!r}")
        raise UnknownModelRef(f"no registered model {registered} (alias {self.alias!r})")

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name if self.version is None else f"{self.name}/{self.version}"
