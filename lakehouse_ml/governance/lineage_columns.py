"""Column lineage as the domains declare it: which source columns each written column comes
from. The same declarations Dagster's `dagster/column_lineage` metadata shows (the factories
in `defs/factories` build it from these functions): a silver column from the bronze column
of its name (the contract types it), an aggregate's `column_lineage`, a feature's
`derived_from`, a training set's looked-up features and its label."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from lakehouse_ml.medallion.spec import Aggregate, Domain, FeatureTableSpec, Source
from lakehouse_ml.medallion.spec import TrainingSetSpec as TrainingSet

Deps = dict[str, list[tuple[str, str]]]
"""Output column → [(source table `schema.table`, source column)]."""


def silver_columns(source: Source) -> Deps:
    """Every contract column of the silver table from the bronze column of the same name."""
    return {c: [(source.bronze_table, c)] for c in source.schema}


def aggregate_columns(domain: Domain, aggregate: Aggregate) -> Deps:
    """The aggregate's declared `column_lineage`, its source names as silver tables."""
    return {column: [(domain.source(s).silver_table, c) for s, c in deps]
            for column, deps in aggregate.column_lineage.items()}


def feature_columns(spec: FeatureTableSpec) -> Deps:
    return {f.name: list(f.derived_from) for f in spec.features}


def training_set_columns(domain: Domain, spec: TrainingSet) -> Deps:
    """Each looked-up feature (named as the set names it) from its feature table's column,
    the label from the label table's, a feature function's output (a polars expression)
    from the sources of the columns it reads."""
    import polars as pl

    from lakehouse_ml.features import FeatureFunction, FeatureLookup

    tables = {t.table: t for t in domain.feature_tables}
    deps: Deps = {spec.label: [(spec.labels, spec.label)]}
    for step in spec.feature_lookups:
        if isinstance(step, FeatureLookup):
            table = tables.get(step.table_name)
            names = step.feature_names or ([f.name for f in table.features] if table else [])
            for name in names:
                deps.setdefault(step.output_name(name), []).append((step.table_name, name))
        elif isinstance(step, FeatureFunction) and isinstance(step.fn, pl.Expr):
            bound = step.input_bindings or {}
            read = [bound.get(c, c) for c in step.fn.meta.root_names()]
            deps[step.output] = list(dict.fromkeys(d for c in read for d in deps.get(c, [])))
    return deps


def domain_columns(domain: Domain) -> dict[str, Deps]:
    """Table (`schema.table`) → its declared column lineage, for every table of `domain`."""
    found: dict[str, Deps] = {s.silver_table: silver_columns(s) for s in domain.sources}
    found |= {a.table: aggregate_columns(domain, a) for a in domain.aggregates}
    found |= {f.table: feature_columns(f) for f in domain.feature_tables}
    if domain.training_set is not None:
        found[domain.training_set.name] = training_set_columns(domain, domain.training_set)
    return found


def domain_inputs(domain: Domain) -> dict[str, set[str]]:
    """Table (`schema.table`) → the tables it is declared to be built from (its Dagster
    `deps`): a silver table from its bronze table, an aggregate from its sources' silver
    tables, a feature table from its inputs, the training set from its labels and looked-up
    feature tables."""
    from lakehouse_ml.features import FeatureLookup

    found = {s.silver_table: {s.bronze_table} for s in domain.sources}
    found |= {a.table: {domain.source(s).silver_table for s in a.inputs}
              for a in domain.aggregates}
    found |= {f.table: set(f.inputs) for f in domain.feature_tables}
    if (spec := domain.training_set) is not None:
        found[spec.name] = {spec.labels, *(s.table_name for s in spec.feature_lookups
                                           if isinstance(s, FeatureLookup))}
    return found


def _full(name: str, env: str) -> str:
    return name if name.count(".") == 2 else f"{env}.{name}"


def declared_inputs(env: str) -> dict[str, set[str]]:
    """`domain_inputs` of every healthy domain package, names in full (once per process)."""
    with _LOCK:
        if env not in _INPUTS:
            from lakehouse_ml.domains import declared_domains

            _INPUTS[env] = {_full(t, env): {_full(s, env) for s in sources}
                            for d in declared_domains()
                            for t, sources in domain_inputs(d).items()}
        return _INPUTS[env]


def qualified(tables: Mapping[str, Deps], env: str) -> dict[str, Deps]:
    """`tables` with every table name in full (`env.schema.table`)."""
    return {_full(t, env): {c: [(_full(s, env), sc) for s, sc in deps]
                            for c, deps in cols.items()}
            for t, cols in tables.items()}


_DECLARED: dict[str, dict[str, Deps]] = {}
_INPUTS: dict[str, dict[str, set[str]]] = {}
_LOCK = threading.Lock()


def declared_columns(env: str, domains: Iterable[Domain] | None = None) -> dict[str, Deps]:
    """Full table name → output column → [(full source table, column)], over every healthy
    domain package (read once per process and environment), or over `domains`."""
    if domains is not None:
        return qualified({t: d for dom in domains for t, d in domain_columns(dom).items()},
                         env)
    with _LOCK:
        if env not in _DECLARED:
            from lakehouse_ml.domains import declared_domains

            _DECLARED[env] = declared_columns(env, declared_domains())
        return _DECLARED[env]
