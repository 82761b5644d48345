"""The project's declared domains: one package per use case under `lakehouse_ml/domains/`,
each exposing its `DOMAIN` declaration."""

from __future__ import annotations

import importlib
import pkgutil

from lakehouse_ml.medallion.spec import Domain


def declared_domains() -> list[Domain]:
    """The `DOMAIN` of every package in this folder (imported by the folder's own names)."""
    domains = []
    for package in pkgutil.iter_modules(__path__):
        if package.ispkg:
            declared = getattr(importlib.import_module(f"{__name__}.{package.name}"), "DOMAIN",
                               None)
            if isinstance(declared, Domain):
                domains.append(declared)
    return domains
