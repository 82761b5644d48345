"""Which domain or model a command acts on: `--domain` / `--model`, or the only one declared.

Every command that takes `--domain` or `--model` resolves it here, so the choices and the
errors are the same everywhere. An unknown name, or no name while several are declared, is a
ValueError (a usage error: exit 2) whose one line lists the choices, and the domain packages
left out as broken, with why (the name may be one of theirs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from lakehouse_ml.domains import Declared
    from lakehouse_ml.medallion.spec import Domain
    from lakehouse_ml.ml.spec import ModelSpec

T = TypeVar("T", "Domain", "ModelSpec")


def _choose(kind: str, option: str, name: str | None, declared: Sequence[T], where: str = "",
            broken: str = "") -> T:
    names = [item.name for item in declared]
    if name is None:
        if len(declared) == 1:
            return declared[0]
        raise ValueError(f"{len(declared)} {kind}s are declared{where} ({', '.join(names)}): "
                         f"choose one with {option}{broken}")
    for item in declared:
        if item.name == name:
            return item
    raise ValueError(f"unknown {kind} {name!r}{where}; declared: {', '.join(names) or 'none'}"
                     f"{broken}")


def left_out() -> str:
    """`; left out as broken: <folder>: <why>; ...` for the broken domain packages, or ""."""
    from lakehouse_ml.domains import discover

    broken = discover().broken
    return f"; left out as broken: {'; '.join(map(str, broken))}" if broken else ""


def resolve_domain(name: str | None) -> Domain:
    """The declared domain called `name`, or the only one when `name` is None.

    ValueError naming the declared domains (and the broken packages) when `name` is unknown,
    or None while several are declared; LookupError when none is."""
    from lakehouse_ml.domains import declared_domains

    domains = declared_domains()
    if not domains:
        raise LookupError("no domain is declared (a package under lakehouse_ml/domains/ "
                          f"declares one){left_out()}")
    return _choose("domain", "--domain", name, domains, broken=left_out())


def resolve_model(name: str | None, domain: str | None = None) -> ModelSpec:
    """The declared model called `name` (among `domain`'s models when a domain is given), or
    the only one when `name` is None.

    ValueError naming the choices when `name` is unknown (also in a domain that declares no
    model), or None while several are declared (or `domain` is unknown); LookupError when
    `name` is None and there is no model to choose from."""
    from lakehouse_ml.domains import declared_models

    if domain is not None:
        domain = resolve_domain(domain).name
    models = declared_models(domain)
    where = "" if domain is None else f" in domain {domain!r}"
    if not models and name is None:
        raise LookupError(f"no model is declared{where} (a domain package declares its "
                          f"models in MODELS){left_out()}")
    return _choose("model", "--model", name, models, where, left_out())


def model_domain(model: str, declared: Mapping[str, Declared] | None = None) -> str:
    """The name of the domain of `declared` (default: `domains.discover()`'s healthy ones)
    declaring model `model`, one `resolve_model` returned (model names are unique across
    domains)."""
    if declared is None:
        from lakehouse_ml.domains import discover

        declared = discover().declared
    (owner,) = [name for name, d in declared.items() if any(m.name == model for m in d.models)]
    return owner
