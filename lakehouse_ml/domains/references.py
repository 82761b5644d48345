"""What a domain package's declarations name, checked when it loads rather than mid-run: the
columns its aggregates return, the hyper-parameters its models pass, the tables its batch
scoring and its training sets' lookups read, the time zones of the aggregates its feature
tables read. Each error is one line naming the declaration
and the field (`lakehouse_ml.domains` adds the package's folder)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence

import polars as pl

from lakehouse_ml.features.functions import FeatureFunction
from lakehouse_ml.features.lookup import FeatureLookup
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.medallion.spec import Aggregate, Domain, TrainingSetSpec
from lakehouse_ml.ml.estimator import ESTIMATOR, estimator_params
from lakehouse_ml.ml.spec import ModelSpec


def _short(table: str) -> str:
    """`schema.table` of a `schema.table` or `catalog.schema.table` name."""
    return ".".join(table.split(".")[-2:])


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]


def aggregate_columns(domain: Domain, aggregate: Aggregate) -> pl.Schema:
    """The columns `aggregate.build` returns, from a build on empty silver frames of its
    inputs (no data read). ValueError naming the aggregate when the build raises on them, does
    not return a LazyFrame, or lacks its `day_column` (a `pl.Date`) or a `primary_key`."""
    from lakehouse_ml.medallion.silver import silver_schema  # the steps' module, on demand

    where = f"aggregate {aggregate.name!r}"
    inputs = {name: pl.LazyFrame(schema=silver_schema(domain.source(name)))
              for name in aggregate.inputs}
    try:
        built = aggregate.build(inputs)
        schema = built.collect_schema() if isinstance(built, pl.LazyFrame) else None
    except Exception as error:  # the user's code, on frames it will get: no row yet
        raise ValueError(f"{where}: build fails on empty inputs with its sources' silver "
                         f"columns: {_one_line(error)}") from error
    if schema is None:
        raise ValueError(f"{where}: build must return a polars LazyFrame, got "
                         f"{type(built).__name__}")
    for attribute, named in (("day_column", (aggregate.day_column,)),
                             ("primary_key", aggregate.primary_key)):
        if missing := [column for column in named if column not in schema]:
            raise ValueError(f"{where}: {attribute} names {', '.join(map(repr, missing))}, "
                             f"not a column its build returns ({', '.join(schema) or 'none'})")
    if schema[aggregate.day_column] != pl.Date:
        raise ValueError(f"{where}: day_column {aggregate.day_column!r} is "
                         f"{schema[aggregate.day_column]}, not a Date (e.g. "
                         f"pl.col(t).dt.convert_time_zone({aggregate.time_zone!r}).dt.date())")
    return schema


def _params(model: ModelSpec) -> None:
    """ValueError naming the model when `params` holds a name the estimator does not take.
    Its values are checked by `lakehouse-ml domains` and when it trains, not here: that needs
    scikit-learn imported (`ml.estimator.params_refused`)."""
    if not isinstance(model.params, Mapping):
        raise ValueError(f"model {model.name!r}: params must be a mapping of {ESTIMATOR} "
                         f"parameters, got {type(model.params).__name__}")
    if unknown := sorted(map(str, set(model.params) - estimator_params())):
        raise ValueError(f"model {model.name!r}: params {', '.join(map(repr, unknown))} "
                         f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'}"
                         f" of {ESTIMATOR} (it takes {', '.join(sorted(estimator_params()))})")


def _key_column(domain: Domain, model: ModelSpec, columns: Mapping[str, pl.Schema]) -> None:
    """ValueError naming the model when its batch scoring's `keys_table` is a table of its
    domain whose columns are known (a source's silver table, an aggregate) and lacks `key`."""
    scoring = model.batch_scoring
    if scoring is None:
        return
    known = {**{s.silver_table: set(s.schema) for s in domain.sources},
             **{a.table: set(columns[a.table]) for a in domain.aggregates}}
    table = _short(scoring.keys_table)
    if table in known and scoring.key not in known[table]:
        raise ValueError(f"model {model.name!r}: batch_scoring key {scoring.key!r} is not a "
                         f"column of {table} ({', '.join(sorted(known[table]))})")


def training_columns(domain: Domain, training_set: TrainingSetSpec) -> set[str] | None:
    """The columns of `training_set` as built, from declarations alone: its labels' contract
    columns, each lookup's features (as renamed) and `snapshot_at`, each feature function's
    output, less `exclude_columns`. None when they are not known at load: labels that are not
    a source's silver table of `domain`, or a lookup of a feature table another domain
    declares."""
    labels = {s.silver_table: s for s in domain.sources}.get(training_set.labels)
    if labels is None:
        return None
    tables = {f.table: f for f in domain.feature_tables}
    columns = set(labels.contract.to_schema().columns)
    for step in training_set.feature_lookups:
        if isinstance(step, FeatureFunction):
            columns.add(step.output)
            continue
        if not isinstance(step, FeatureLookup) or _short(step.table_name) not in tables:
            return None
        names = step.feature_names or [f.name for f in tables[_short(step.table_name)].features]
        columns |= {step.output_name(name) for name in (*names, AS_OF)}
    return columns - set(training_set.exclude_columns)


def _unknown(named: Sequence[str], columns: set[str]) -> str | None:
    """The first of `named` not in `columns`, quoted, with the columns there are."""
    if unknown := [name for name in named if name not in columns]:
        return f"{unknown[0]!r}, not a column of its training set ({', '.join(sorted(columns))})"
    return None


def _columns_named(domain: Domain, models: Sequence[ModelSpec]) -> None:
    """ValueError naming the declaration, the field and the column when the training set's
    `population` reads, or a model's `slices`, `categorical` or `not_features` names, a column
    the training set will not have (when its columns are known at load: `training_columns`):
    a misspelt `not_features` column would leave the real one a model input."""
    training_set = domain.training_set
    columns = training_columns(domain, training_set) if training_set else None
    if training_set is None or columns is None:
        return
    if training_set.population is not None:
        try:
            read = training_set.population.meta.root_names()
        except pl.exceptions.PolarsError:  # an expression polars cannot list: checked when run
            read = []
        if said := _unknown(read, columns):
            raise ValueError(f"training set {training_set.name!r}: population reads {said}")
    for model in models:
        for attribute in ("slices", "categorical", "not_features"):
            if said := _unknown(getattr(model, attribute), columns):
                raise ValueError(f"model {model.name!r}: {attribute} names {said}")


def check_declarations(domain: Domain, models: Sequence[ModelSpec]) -> None:
    """ValueError (one line) for the first of: an aggregate whose build fails on empty inputs
    or does not return its `day_column` and `primary_key` (`aggregate_columns`); a model
    `params` name the estimator does not take; a batch scoring `keys_table` of the domain that
    lacks its `key`; a population, `slices` or `categorical` column the training set will not
    have (`training_columns`, when known at load)."""
    columns = {a.table: aggregate_columns(domain, a) for a in domain.aggregates}
    for model in models:
        _params(model)
        _key_column(domain, model, columns)
    _columns_named(domain, models)


def _lookups(domain: Domain, models: Sequence[ModelSpec]) -> Iterator[tuple[str, FeatureLookup]]:
    """(training set name, lookup) of every feature lookup of the domain's training sets."""
    sets = {t.name: t for t in (domain.training_set, *(m.training_set for m in models)) if t}
    for name, training_set in sets.items():
        for lookup in training_set.feature_lookups:
            if isinstance(lookup, FeatureLookup):
                yield name, lookup


def across_domains(domain: Domain, models: Sequence[ModelSpec], feature_tables: Collection[str],
                   owners: Mapping[str, str], zones: Mapping[str, str]) -> str | None:
    """Why the domain names a table wrongly, given what every loaded domain declares, or None:
    a training set's lookup of a table that is not one of `feature_tables` (every declared
    feature table); a batch scoring `keys_table` that another domain declares (`owners`:
    every declared table → its domain's name; the keys a model scores are its own domain's,
    or a table no domain writes: another domain's may change or be left out); a feature table
    reading an aggregate (`zones`: every declared aggregate → its time zone) of another zone
    than its own."""
    for name, lookup in _lookups(domain, models):
        if _short(lookup.table_name) not in feature_tables:
            return (f"training set {name!r}: FeatureLookup table_name {lookup.table_name} is "
                    f"not a feature table any domain declares "
                    f"({', '.join(sorted(feature_tables)) or 'none'})")
    for model in models:
        keys = model.batch_scoring.keys_table if model.batch_scoring else ""
        if owners.get(_short(keys), domain.name) != domain.name:
            return (f"model {model.name!r}: batch_scoring keys_table {keys} is domain "
                    f"{owners[_short(keys)]!r}'s table: the keys a model scores come from its "
                    "own domain's tables (another domain's may change or be left out)")
    for table in domain.feature_tables:
        for name in table.inputs:
            if zones.get(_short(name), table.zone) != table.zone:
                return (f"feature table {table.name!r}: time_zone {table.zone!r}, but it reads "
                        f"{name} of time_zone {zones[_short(name)]!r}: a snapshot stamped "
                        "D 00:00 in one zone would sum days of the other, which may end after "
                        "the stamp; declare time_zone")
    return None
