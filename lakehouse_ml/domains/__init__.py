"""The project's declared domains: one package per use case under `lakehouse_ml/domains/`,
each exposing its `DOMAIN` declaration and, when it has models, `MODELS` (a tuple of
`ModelSpec`), and optionally `MONITORS` (`Monitor`s of its tables) and `RETRAINING`
(`RetrainingPolicy`s of its models). Dagster's definitions (`defs/domains.py`), the CLI and
model loading all find domains and models here, so a new package is the only thing a new
domain needs.

A package that cannot be imported or declares something malformed or clashing is left out
and reported (`discover`): the other domains still load, in Dagster and in the CLI."""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import pkgutil
import posix
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NoReturn, TypeVar

from lakehouse_ml.domains.references import across_domains, check_declarations
from lakehouse_ml.domains.reserved import derived_tables, engine_owned
from lakehouse_ml.medallion.spec import Domain, misfit
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.monitoring.spec import Monitor, RetrainingPolicy

NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
"""A declared name: lowercase letters and digits in words joined by single `_`. No `__` and no
trailing `_`: Dagster op names join a layer and a name with `__` (`bronze__events`) and a model
and its step with `_` (`churn_clf_train_model`), so a source `x_train_model` and a model
`bronze__x` (or `bronze_`) would make one op name twice and break the whole code location."""
log = logging.getLogger(__name__)
T = TypeVar("T")
PROJECT_POLICY = Path(__file__).resolve().parent / "policy.yaml"
"""The project policy (the metastore admin's: shared schemas, people and privileged groups),
applied before every domain package's own `policy.yaml`, which may declare only its domain's
scope (`governance.policy_scope`)."""


class DomainError(RuntimeError):
    """A domain package that cannot be imported, or declares something malformed or twice."""


@dataclass(frozen=True)
class Declared:
    """What one healthy package declares."""

    where: str
    """The package's folder."""
    domain: Domain
    models: tuple[ModelSpec, ...]
    monitors: tuple[Monitor, ...]
    policies: tuple[RetrainingPolicy, ...]


@dataclass(frozen=True)
class BrokenPackage:
    """A package left out: its folder and why, one line (`str()`: "<folder>: <why>")."""

    where: str
    error: str

    def __str__(self) -> str:
        return f"{self.where}: {self.error}"


@dataclass(frozen=True)
class Discovery:
    """Every package under this folder: the healthy ones by domain name (package-name order)
    and the broken ones, each with its reason. A package is broken when it cannot be imported,
    declares something malformed, or declares a name, table, model schema or metric table that
    another package declares too (then both are: neither may write the other's tables), a
    table in another domain's schema, or when its `policy.yaml` oversteps its domain's scope
    (`governance.policy_scope`: then it is never applied)."""

    declared: dict[str, Declared]
    broken: tuple[BrokenPackage, ...]

    def check(self) -> None:
        """DomainError naming every broken package (one line), if any."""
        if self.broken:
            raise DomainError("; ".join(str(package) for package in self.broken))


def _import_error(where: str, error: BaseException) -> str:
    """`cannot be imported: <Class>: <message>`, plus the file and line inside the package
    where it was raised (a SyntaxError's message already names them)."""
    message = f"cannot be imported: {type(error).__name__}: {' '.join(str(error).split())}"
    if isinstance(error, SyntaxError):
        return message
    inside = [frame for frame in traceback.extract_tb(error.__traceback__)
              if Path(frame.filename).is_relative_to(where)]
    if not inside:
        return message
    return f"{message} ({Path(inside[-1].filename).relative_to(where)}, line {inside[-1].lineno})"


class ProcessExit(SystemExit):
    """A package called `os._exit`, or registered an exit handler (`atexit.register`), while
    imported or checked: `os._exit` ends the process at once, skipping every handler, and a
    handler runs after the command has said what it did, so either could turn a failing
    command into one that printed nothing and exited 0, having run nothing."""


def _refuse_exit(status: int) -> NoReturn:
    raise ProcessExit(f"os._exit({status}) while being loaded")


@contextmanager
def _exit_refused(where: str) -> Iterator[None]:
    """While package `where` is imported or its declarations checked (which may call its
    builders): `os._exit` (and `posix._exit`) raises `ProcessExit` instead, and an exit handler
    the package's own code registers is unregistered, then `ProcessExit` raised. Domain
    packages are code the pipeline runs with its powers and must be trusted; this only keeps
    a mistaken exit from passing for success. Handlers a library registers (first imported
    by the package) are kept."""
    real_exit, real_register = os._exit, atexit.register
    registered: list[Callable[..., object]] = []

    def register(function: Callable[..., object], *args: object, **kwargs: object
                 ) -> Callable[..., object]:
        real_register(function, *args, **kwargs)
        if Path(sys._getframe(1).f_code.co_filename).is_relative_to(where):
            registered.append(function)
        return function

    os._exit = posix._exit = _refuse_exit
    atexit.register = register
    try:
        yield
    finally:
        os._exit = posix._exit = real_exit
        atexit.register = real_register
        for function in registered:
            atexit.unregister(function)
    if registered:
        raise ProcessExit("registers an exit handler (atexit.register) while being loaded")


def _packages() -> Iterator[tuple[str, ModuleType | BrokenPackage]]:
    """Each package's folder and its module, or why it cannot be imported."""
    for package in sorted(pkgutil.iter_modules(__path__), key=lambda p: p.name):
        if not package.ispkg:
            continue
        where = str(Path(getattr(package.module_finder, "path", "")) / package.name)
        try:
            with _exit_refused(where):
                module = importlib.import_module(f"{__name__}.{package.name}")
        except (Exception, SystemExit) as error:  # sys.exit() in a package ended the CLI: 0
            yield where, BrokenPackage(where, _import_error(where, error))
        else:
            yield where, module


def check_models(domain: Domain, models: Sequence[ModelSpec]) -> None:
    """DomainError naming the model when one trains on a training set `domain` does not
    declare."""
    declared = domain.training_set.name if domain.training_set else None
    for model in models:
        if model.training_set.name != declared:
            raise DomainError(f"model {model.name!r} trains on {model.training_set.name}, which "
                              f"domain {domain.name!r} does not declare (its training set: "
                              f"{declared})")


def _listed(module: ModuleType, attribute: str, kind: type[T]) -> tuple[T, ...]:
    """The package's `attribute` (a tuple, or a list, of `kind`; () when absent). DomainError
    naming the attribute when it is anything else (None, a single `kind`, a string...)."""
    value = getattr(module, attribute, ())
    if (found := misfit(value, kind)) is not None:
        wrong, whole = found
        raise DomainError(f"{attribute} is a {type(wrong).__name__}, not a tuple of "
                          f"{kind.__name__}" if whole else
                          f"{attribute} holds a {type(wrong).__name__}, not a {kind.__name__}")
    return tuple(value)


def _declared(where: str, module: ModuleType) -> Declared | None:
    """The package's declarations, checked on their own; None when it declares no DOMAIN.
    DomainError (without the folder) for a malformed one: a folder name or a domain, model
    or model schema name that is not lowercase letters, digits and `_`, a module attribute of
    the wrong type, a table the engine owns (`reserved`), a name declared twice."""
    if not NAME.fullmatch(Path(where).name):
        raise DomainError(f"package folder name {Path(where).name!r} must be lowercase "
                          "letters and digits joined by single '_', starting with a letter")
    if not hasattr(module, "DOMAIN"):
        return None
    domain = module.DOMAIN
    if not isinstance(domain, Domain):
        raise DomainError(f"DOMAIN is a {type(domain).__name__}, not a Domain")
    models = _listed(module, "MODELS", ModelSpec)
    for kind, name in (("domain", domain.name), *(("model", m.name) for m in models),
                       *(("model schema", m.schema) for m in models),
                       *(("source", s.name) for s in domain.sources),
                       *(("source entity", s.entity) for s in domain.sources if s.entity),
                       *(("aggregate", a.name) for a in domain.aggregates),
                       *(("feature table", f.name) for f in domain.feature_tables)):
        if not (isinstance(name, str) and NAME.fullmatch(name)):
            raise DomainError(f"{kind} name {name!r} must be lowercase letters and digits "
                              "joined by single '_', starting with a letter (it names jobs, "
                              "ops and tables)")
    names = [model.name for model in models]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise DomainError(f"model {twice[0]!r} is declared twice (its Dagster jobs would "
                          "clash)")
    check_models(domain, models)
    for table, what in table_claims(domain, models).items():
        if why := engine_owned(table):
            raise DomainError(f"{what} ({table.removeprefix('schema ')}) may not be declared: "
                              f"{why}")
    try:  # what the declarations name: columns, parameters, tables (`references`)
        check_declarations(domain, models)
    except ValueError as error:
        raise DomainError(str(error)) from error
    return Declared(where, domain, models, *_monitoring(module, domain, models))


def table_claims(domain: Domain, models: tuple[ModelSpec, ...]) -> dict[str, str]:
    """Every table (asset) and model schema the domain's assets write, and the tables the
    engine writes for them (`reserved.derived_tables`) → what declares it: keys `schema.table`,
    `schema.model` (a model: its asset key) and `schema <name>` (a model's schema), values
    one phrase (`source 'events'`, `model 'churn_clf'`...). Public: discovery checks clashes
    with it and `governance.domain_grants` derives the tables a domain's pipeline writes from
    it. DomainError when
    two of its sources, aggregates, feature tables or its training set write one table
    (Dagster would refuse the duplicate asset key), or one of them is a table the engine
    writes for another (a training set `gold.<feature table>_state`, `<schema>.predictions`
    of one of its models...)."""
    claims: dict[str, str] = {}
    for table, what in (
        *((table, f"source {s.name!r}") for s in domain.sources
          for table in (s.bronze_table, s.manifest_table, s.rejects_table, s.silver_table,
                        s.quarantine_table)),
        *((a.table, f"aggregate {a.name!r}") for a in domain.aggregates),
        *((f.table, f"feature table {f.name!r}") for f in domain.feature_tables),
        *((t.name, f"training set {t.name!r}") for t in (domain.training_set,) if t),
    ):
        if table in claims:
            raise DomainError(f"{what} ({table}) is declared twice: also as {claims[table]}")
        claims[table] = what
    declared = set(claims)
    for model in models:  # its asset key is `<schema>/<name>`, a table's would be the same
        named = f"{model.schema}.{model.name}"
        if named in claims:
            raise DomainError(f"model {model.name!r} ({named}) has the name of "
                              f"{claims[named]}, a table of its schema")
        claims[named] = f"model {model.name!r}"
    declared |= {f"{m.schema}.{m.name}" for m in models}
    for model in models:  # its schema also holds its domain's predictions and inference log
        what = f"model {model.name!r}"
        if model.predictions_table in declared:
            raise DomainError(f"{claims[model.predictions_table]} "
                              f"({model.predictions_table}) is the table the engine writes "
                              f"model {model.name!r}'s batch scores to")
        claims.setdefault(model.predictions_table, what)
        claims.setdefault(f"schema {model.schema}", what)
    for table, what in derived_tables(domain, models):
        if table in declared:
            raise DomainError(f"{claims[table]} ({table}) is the table the engine writes "
                              f"{what} to")
        claims.setdefault(table, what)
    return claims


def _clashes(declared: list[Declared]) -> dict[str, str]:
    """Folder → the first name, table, model schema or metric table its package declares that
    an earlier or a later package declares too, said from its side."""
    clashes: dict[str, str] = {}
    names: dict[str, Declared] = {}
    tables: dict[str, tuple[Declared, str]] = {}
    writers: dict[str, tuple[Declared, str]] = {}
    for this in declared:
        said: list[tuple[Declared, str, str]] = []  # (earlier package, its side, this side)
        for key in (f"domain {this.domain.name!r}", *(f"model {m.name!r}" for m in this.models)):
            if (first := names.setdefault(key, this)) is not this:
                said.append((first, f"{key} is also declared in {this.where}",
                             f"{key} is already declared in {first.where}"))
        for table, what in table_claims(this.domain, this.models).items():
            first, first_what = tables.setdefault(table, (this, what))
            if first is not this:
                said.append((first, f"{first_what} ({table}) is also declared by domain "
                             f"{this.domain.name!r} ({this.where})",
                             f"{what} ({table}) is already declared by domain "
                             f"{first.domain.name!r} ({first.where})"))
        for monitor in this.monitors:
            for table in (monitor.profile_metrics_table, monitor.drift_metrics_table):
                first, watched = writers.setdefault(table, (this, monitor.table))
                if first is not this:
                    said.append((first, f"monitor of {watched} writes {table}, which the "
                                 f"monitor of {monitor.table} ({this.where}) also writes",
                                 f"monitor of {monitor.table} writes {table}, which the "
                                 f"monitor of {watched} ({first.where}) already writes"))
        for first, theirs, ours in said:
            clashes.setdefault(first.where, theirs)
            clashes.setdefault(this.where, ours)
    return clashes


def _overstepping(loaded: list[Declared], owners: dict[str, str]) -> list[tuple[str, str]]:
    """(folder, why) of each package declaring a table in another domain's schema or whose
    `policy.yaml` oversteps its domain's scope (`governance.policy_scope.overstepping`)."""
    from lakehouse_ml.config import Settings
    from lakehouse_ml.governance.policy_scope import overstepping

    return list(overstepping(loaded, owners, PROJECT_POLICY, Settings.from_env().env).items())


_reported: set[str] = set()
"""Broken packages already logged by this process (each is logged once)."""


def discover() -> Discovery:
    """Every package under this folder, imported and checked: the healthy ones and the broken
    ones (see `Discovery`). Logs a warning (logger `lakehouse_ml.domains`) naming each broken
    package once per process, so that no domain goes missing silently."""
    found: list[Declared] = []
    broken: dict[str, BrokenPackage] = {}
    order: list[str] = []
    for where, module in _packages():
        order.append(where)
        if isinstance(module, BrokenPackage):
            broken[where] = module
            continue
        try:
            with _exit_refused(where):  # the checks call its builders
                declared = _declared(where, module)
        except DomainError as error:
            broken[where] = BrokenPackage(where, str(error))
            continue
        except (Exception, SystemExit) as error:  # a declaration no check foresaw: fail closed
            broken[where] = BrokenPackage(where, f"cannot be checked: {type(error).__name__}: "
                                          f"{' '.join(str(error).split())}")
            continue
        if declared is not None:
            found.append(declared)
    for where, clash in _clashes(found).items():
        broken[where] = BrokenPackage(where, clash)
    loaded = [d for d in found if d.where not in broken]
    features = {f.table for d in loaded for f in d.domain.feature_tables}
    owners = {t: d.domain.name for d in loaded for t in table_claims(d.domain, d.models)}
    zones = {a.table: a.time_zone for d in loaded for a in d.domain.aggregates}
    for d in loaded:  # a table of no loaded domain (a typo, a package left out), another's
        if why := across_domains(d.domain, d.models, features, owners, zones):
            broken[d.where] = BrokenPackage(d.where, why)
    for where, why in _overstepping([d for d in loaded if d.where not in broken], owners):
        broken[where] = BrokenPackage(where, why)
    discovery = Discovery(
        {d.domain.name: d for d in found if d.where not in broken},
        tuple(sorted(broken.values(), key=lambda b: order.index(b.where))))
    for package in discovery.broken:
        if str(package) not in _reported:
            _reported.add(str(package))
            log.warning("domain package left out: %s", package)
    return discovery


def declarations() -> dict[str, tuple[Domain, tuple[ModelSpec, ...]]]:
    """Domain name → (its `Domain`, its models), in package-name order, when every package is
    healthy; DomainError naming each broken package otherwise (see `Discovery`)."""
    discovery = discover()
    discovery.check()
    return {name: (d.domain, d.models) for name, d in discovery.declared.items()}


def declared_domains() -> list[Domain]:
    """The `DOMAIN` of every healthy package in this folder (imported by the folder's own
    names); a broken one is left out and logged (see `discover`)."""
    return [d.domain for d in discover().declared.values()]


def declared_models(domain: str | None = None) -> list[ModelSpec]:
    """The models of every healthy domain, or only of the domain named `domain` (see
    `declared_domains`)."""
    return [model for name, d in discover().declared.items()
            if domain is None or name == domain for model in d.models]


def _monitoring(module: ModuleType, domain: Domain, models: tuple[ModelSpec, ...]
                ) -> tuple[tuple[Monitor, ...], tuple[RetrainingPolicy, ...]]:
    """The package's MONITORS and RETRAINING, checked: each monitor watches a table the domain
    declares (or a table of one of its models' schemas, e.g. `<schema>.inference_log`), each
    policy names one of its models, and no two of its monitors write the same metric tables
    (`_clashes` checks them across packages). DomainError (without the folder) otherwise."""
    monitors = _listed(module, "MONITORS", Monitor)
    policies = _listed(module, "RETRAINING", RetrainingPolicy)
    tables = set(table_claims(domain, models))
    schemas = {model.schema for model in models}
    writers: dict[str, str] = {}
    for monitor in monitors:
        if not isinstance(monitor, Monitor):
            raise DomainError(f"MONITORS holds a {type(monitor).__name__}, not a Monitor")
        if monitor.table not in tables and monitor.table.split(".")[0] not in schemas:
            raise DomainError(f"monitor of {monitor.table}: domain {domain.name!r} declares "
                              "no such table")
        for table in (monitor.profile_metrics_table, monitor.drift_metrics_table):
            if table in writers:
                raise DomainError(f"monitor of {monitor.table} writes {table}, which "
                                  f"{writers[table]} already writes")
            writers[table] = f"the monitor of {monitor.table}"
    for policy in policies:
        if not isinstance(policy, RetrainingPolicy):
            raise DomainError(f"RETRAINING holds a {type(policy).__name__}, not a "
                              "RetrainingPolicy")
        if policy.model not in {model.name for model in models}:
            raise DomainError(f"RETRAINING names model {policy.model!r}, which domain "
                              f"{domain.name!r} does not declare")
    return monitors, policies


def monitoring_declarations() -> dict[str, tuple[tuple[Monitor, ...],
                                                 tuple[RetrainingPolicy, ...]]]:
    """Domain name → (its monitors, its retraining policies), in package-name order, when
    every package is healthy; DomainError naming each broken package otherwise."""
    discovery = discover()
    discovery.check()
    return {name: (d.monitors, d.policies) for name, d in discovery.declared.items()}


def declared_monitors(domain: str | None = None) -> list[Monitor]:
    """The monitors of every declared domain, or only of the domain named `domain`
    (DomainError as `monitoring_declarations`)."""
    return [monitor for name, (monitors, _) in monitoring_declarations().items()
            if domain is None or name == domain for monitor in monitors]


def declared_retraining(domain: str | None = None) -> list[RetrainingPolicy]:
    """The retraining policies of every declared domain, or only of the domain `domain`
    (DomainError as `monitoring_declarations`)."""
    return [policy for name, (_, policies) in monitoring_declarations().items()
            if domain is None or name == domain for policy in policies]
