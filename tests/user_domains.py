"""Domains a user adds beside churn: `fleet` (with a model) and `sensors` (without), packages
under `tests/domain_packages/` put on the search path of `lakehouse_ml.domains` for one test,
exactly as if they were folders of `lakehouse_ml/domains/`."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

import lakehouse_ml.domains

PACKAGES = Path(__file__).resolve().parent / "domain_packages"


def declare_user_domains(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Declare `fleet` and `sensors` until the test ends; returns the `fleet` package."""
    monkeypatch.setattr(lakehouse_ml.domains, "__path__",
                        [*lakehouse_ml.domains.__path__, str(PACKAGES)])
    return importlib.import_module("lakehouse_ml.domains.fleet")
