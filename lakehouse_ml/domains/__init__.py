"""The project's declared domains: one package per use case under `lakehouse_ml/domains/`,
each exposing its `DOMAIN` declaration and, when it has models, `MODELS` (a tuple of
`ModelSpec`), and optionally `MONITORS` (`Monitor`s of its tables) and `RETRAINING`
(`RetrainingPolicy`s of its models). Dagster's definitions (`defs/domains.py`), the CLI and
model loading all find domains and models here, so a new package is the only thing a new
domain needs."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

from lakehouse_ml.medallion.spec import Domain
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.monitoring.spec import Monitor, RetrainingPolicy

NAME = re.compile(r"[a-z][a-z0-9_]*")
"""Domain and model names prefix Dagster job, schedule and op names: lowercase, digits, `_`."""


class DomainError(RuntimeError):
    """A domain package that cannot be imported, or declares something malformed or twice."""


def _packages() -> list[tuple[str, ModuleType]]:
    packages = []
    for package in sorted(pkgutil.iter_modules(__path__), key=lambda p: p.name):
        if not package.ispkg:
            continue
        where = str(Path(getattr(package.module_finder, "path", "")) / package.name)
        try:
            module = importlib.import_module(f"{__name__}.{package.name}")
        except Exception as error:
            raise DomainError(f"{where}: cannot be imported: {type(error).__name__}: "
                              f"{error}") from error
        packages.append((where, module))
    return packages


def _declared(where: str, module: ModuleType) -> tuple[Domain, tuple[ModelSpec, ...]] | None:
    domain = getattr(module, "DOMAIN", None)
    if domain is None:
        return None
    if not isinstance(domain, Domain):
        raise DomainError(f"{where}: DOMAIN is a {type(domain).__name__}, not a Domain")
    models = tuple(getattr(module, "MODELS", ()))
    for model in models:
        if not isinstance(model, ModelSpec):
            raise DomainError(f"{where}: MODELS holds a {type(model).__name__}, not a ModelSpec")
    for kind, name in (("domain", domain.name), *(("model", m.name) for m in models)):
        if not NAME.fullmatch(name):
            raise DomainError(f"{where}: {kind} name {name!r} must be lowercase letters, digits "
                              "and '_', starting with a letter (it prefixes job names)")
    return domain, models


def _claims(domain: Domain, models: tuple[ModelSpec, ...]) -> dict[str, str]:
    """Every table (asset) and model schema the domain's assets write → what declares it."""
    claims: dict[str, str] = {}
    for source in domain.sources:
        for table in (source.bronze_table, source.manifest_table, source.rejects_table,
                      source.silver_table, source.quarantine_table):
            claims.setdefault(table, f"source {source.name!r}")
    for kind, name, table in (
        *(("aggregate", a.name, a.table) for a in domain.aggregates),
        *(("feature table", f.name, f.table) for f in domain.feature_tables),
        *(("training set", t.name, t.name) for t in (domain.training_set,) if t),
    ):
        claims.setdefault(table, f"{kind} {name!r}")
    for model in models:  # its schema also holds its domain's predictions and inference log
        what = f"model {model.name!r}"
        claims.setdefault(f"{model.schema}.{model.name}", what)
        claims.setdefault(model.predictions_table, what)
        claims.setdefault(f"schema {model.schema}", what)
    return claims


def declarations() -> dict[str, tuple[Domain, tuple[ModelSpec, ...]]]:
    """Domain name → (its `Domain`, its models), in package-name order.

    DomainError naming the package for one that cannot be imported, a malformed name, a
    domain or model name declared twice, or a table or model schema two domains write."""
    found: dict[str, tuple[Domain, tuple[ModelSpec, ...]]] = {}
    owner: dict[str, str] = {}
    claimed: dict[str, tuple[str, str]] = {}
    for where, module in _packages():
        declared = _declared(where, module)
        if declared is None:
            continue
        domain, models = declared
        for key in (f"domain {domain.name!r}", *(f"model {m.name!r}" for m in models)):
            if key in owner:
                raise DomainError(f"{where}: {key} is already declared in {owner[key]}")
            owner[key] = where
        for name, what in _claims(domain, models).items():
            if name in claimed:
                other, other_where = claimed[name]
                raise DomainError(f"{where}: {what} ({name}) is already declared by domain "
                                  f"{other!r} ({other_where})")
            claimed[name] = (domain.name, where)
        found[domain.name] = declared
    return found


def declared_domains() -> list[Domain]:
    """The `DOMAIN` of every package in this folder (imported by the folder's own names)."""
    return [domain for domain, _ in declarations().values()]


def declared_models(domain: str | None = None) -> list[ModelSpec]:
    """The models of every declared domain, or only of the domain named `domain`."""
    return [model for name, (_, models) in declarations().items()
            if domain is None or name == domain for model in models]


def _monitoring(where: str, module: ModuleType, domain: Domain, models: tuple[ModelSpec, ...]
                ) -> tuple[tuple[Monitor, ...], tuple[RetrainingPolicy, ...]]:
    """The package's MONITORS and RETRAINING, checked: each monitor watches a table the domain
    declares (or a table of one of its models' schemas, e.g. `<schema>.inference_log`), each
    policy names one of its models, and no two monitors write the same metric tables."""
    monitors = tuple(getattr(module, "MONITORS", ()))
    policies = tuple(getattr(module, "RETRAINING", ()))
    tables = set(_claims(domain, models))
    schemas = {model.schema for model in models}
    for monitor in monitors:
        if not isinstance(monitor, Monitor):
            raise DomainError(f"{where}: MONITORS holds a {type(monitor).__name__}, not a "
                              "Monitor")
        if monitor.table not in tables and monitor.table.split(".")[0] not in schemas:
            raise DomainError(f"{where}: monitor of {monitor.table}: domain {domain.name!r} "
                              "declares no such table")
    for policy in policies:
        if not isinstance(policy, RetrainingPolicy):
            raise DomainError(f"{where}: RETRAINING holds a {type(policy).__name__}, not a "
                              "RetrainingPolicy")
        if policy.model not in {model.name for model in models}:
            raise DomainError(f"{where}: RETRAINING names model {policy.model!r}, which "
                              f"domain {domain.name!r} does not declare")
    return monitors, policies


def monitoring_declarations() -> dict[str, tuple[tuple[Monitor, ...],
                                                 tuple[RetrainingPolicy, ...]]]:
    """Domain name → (its monitors, its retraining policies), in package-name order.
    DomainError naming the package for a malformed declaration (see `_monitoring`) or a
    metric table another monitor, in this domain or another, already writes."""
    declared = declarations()
    found = {}
    writers: dict[str, str] = {}
    for where, module in _packages():
        domain = getattr(module, "DOMAIN", None)
        if domain is None:
            continue
        monitors, policies = _monitoring(where, module, *declared[domain.name])
        for monitor in monitors:
            for table in (monitor.profile_metrics_table, monitor.drift_metrics_table):
                if table in writers:
                    raise DomainError(f"{where}: monitor of {monitor.table} writes {table}, "
                                      f"which {writers[table]} already writes")
                writers[table] = f"the monitor of {monitor.table} ({where})"
        found[domain.name] = (monitors, policies)
    return found


def declared_monitors(domain: str | None = None) -> list[Monitor]:
    """The monitors of every declared domain, or only of the domain named `domain`."""
    return [monitor for name, (monitors, _) in monitoring_declarations().items()
            if domain is None or name == domain for monitor in monitors]


def declared_retraining(domain: str | None = None) -> list[RetrainingPolicy]:
    """The retraining policies of every declared domain, or only of the domain `domain`."""
    return [policy for name, (_, policies) in monitoring_declarations().items()
            if domain is None or name == domain for policy in policies]
