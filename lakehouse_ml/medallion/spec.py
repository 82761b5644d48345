"""Declarations a domain writes to get bronze, silver and gold tables; the engine reads only these.

A `Source` is one landed feed (→ `bronze.<name>`, `silver.<entity>`); its pandera contract is the
single statement of the entity's columns, types, rules, descriptions and column tags.
An `Aggregate` is one gold table computed from silver entities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, get_args

import pandera.polars as pa
import polars as pl

from lakehouse_ml.medallion.days import validate_time_zone

BronzeFormat = Literal["jsonl", "csv"]


def kind_names(kind: type | tuple[type, ...]) -> str:
    """`kind`'s class name, or its classes' names joined by `or` (`NoneType` as `None`)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("None" if k is type(None) else k.__name__ for k in kinds)


def misfit(value: object, kind: type | tuple[type, ...]) -> tuple[object, bool] | None:
    """None when `value` is a tuple or list of `kind`s; else (`value`, True) when it is neither
    a tuple nor a list, or (its first item that is not a `kind`, False)."""
    if not isinstance(value, tuple | list):
        return value, True
    return next(((item, False) for item in value if not isinstance(item, kind)), None)


def tuple_field(owner: object, attribute: str, kind: type | tuple[type, ...], where: str) -> None:
    """Check `owner.<attribute>` (a frozen dataclass's field) is a tuple of `kind`s: a list is
    taken as the tuple it lists (stored so), anything else (a string, a single item, None)
    raises ValueError naming `where` and the attribute, so a declaration fails when it is
    written instead of mid-run."""
    value = getattr(owner, attribute)
    if isinstance(value, list):
        value = tuple(value)
        object.__setattr__(owner, attribute, value)
    if (found := misfit(value, kind)) is None:
        return
    wrong, whole = found
    if whole:
        raise ValueError(f"{where}: {attribute} must be a tuple of {kind_names(kind)}, got "
                         f"{type(wrong).__name__} {wrong!r:.80}")
    raise ValueError(f"{where}: {attribute} holds a {type(wrong).__name__} ({wrong!r:.80}), "
                     f"not a {kind_names(kind)}")


def typed_field(owner: object, attribute: str, kind: type | tuple[type, ...], where: str
                ) -> None:
    """ValueError naming `where` and the attribute unless `owner.<attribute>` is a `kind`."""
    value = getattr(owner, attribute)
    if not isinstance(value, kind) or (kind is date and isinstance(value, datetime)):
        raise ValueError(f"{where}: {attribute} must be a {kind_names(kind)}, got "
                         f"{type(value).__name__} {value!r:.80}")


def callable_field(owner: object, attribute: str, where: str) -> None:
    """ValueError naming `where` and the attribute unless `owner.<attribute>` is callable."""
    value = getattr(owner, attribute)
    if not callable(value):
        raise ValueError(f"{where}: {attribute} must be a function, got {value!r:.80}")


@dataclass(frozen=True)
class Source:
    name: str
    format: BronzeFormat
    contract: type[pa.DataFrameModel]
    primary_key: tuple[str, ...]
    description: str
    event_time: str
    """Column that places a record on a calendar day (drives which gold days it affects)."""
    sequence_by: str | None = None
    """Column that orders versions of a key: the greatest wins; ties go to the later landing."""
    event_time_immutable: bool = False
    """True when a key's event_time rarely changes (facts: an event's time, an order's
    placement): MERGE and reconciliation then read only silver files of the batch's time range,
    plus the times at which the batch's keys are already held (a version with a corrected
    time still replaces its key's row; see `lakehouse_ml.medallion.moves`)."""
    max_event_time_ahead: timedelta | None = timedelta(days=1)
    """An event time more than this after the record's ingestion time (`_ingested_at`) is
    quarantined (clock skew, placeholder dates like 9999-12-31); None: no bound."""
    min_event_time: datetime | None = datetime(1970, 1, 1, tzinfo=UTC)
    """An event time before this instant (naive: UTC) is quarantined (placeholder dates like
    0001-01-01); default the Unix epoch, before any event a source here records; None: no
    bound."""
    entity: str | None = None
    owner: str = "team:data-eng"
    max_reject_fraction: float = 0.2
    """Above this share of quarantined rows in a run, the blocking contract check fails..."""
    min_rows_to_block: int = 100
    """...if the run read at least this many rows; on fewer, a share is noise: it only warns."""
    effective_dates: tuple[str, ...] = ()
    """Date or datetime columns that place a key's effect on feature snapshots besides its
    event time (a customer's `signup_date`: snapshots hold the customer from that day on). A
    batch that makes a key known, or changes the value of its current version (the latest
    valid one), changes every snapshot from the earlier of the old and new values on,
    whatever its event time: `medallion.changes.redated_days` finds them."""
    ignore: tuple[str, ...] = ()
    """Glob patterns (on the file name) of landed files that are not data, e.g. `("*.crc",)`;
    names starting with `_` or `.` and ending in `.tmp` are always ignored (in-progress files)."""

    def __post_init__(self) -> None:
        """ValueError naming the source and the field when a field has the wrong type, the
        format is unknown, or a key, event time or sequence column is not a contract column."""
        where = f"source {self.name!r}"
        typed_field(self, "name", str, where)
        if self.format not in get_args(BronzeFormat):
            raise ValueError(f"{where}: format {self.format!r} is not a landing format "
                             f"({', '.join(get_args(BronzeFormat))})")
        if not (isinstance(self.contract, type) and issubclass(self.contract, pa.DataFrameModel)):
            raise ValueError(f"{where}: contract must be a pandera DataFrameModel class, got "
                             f"{self.contract!r:.80}")
        for attribute in ("primary_key", "ignore", "effective_dates"):
            tuple_field(self, attribute, str, where)
        for attribute, kind in (("description", str), ("event_time", str), ("owner", str),
                                ("sequence_by", (str, type(None))),
                                ("entity", (str, type(None))),
                                ("max_event_time_ahead", (timedelta, type(None))),
                                ("min_event_time", (datetime, type(None)))):
            typed_field(self, attribute, kind, where)
        if not self.primary_key:
            raise ValueError(f"{where}: primary_key names no column")
        columns = set(self.contract.to_schema().columns)
        for attribute, named in (("primary_key", self.primary_key),
                                 ("event_time", (self.event_time,)),
                                 ("sequence_by", (self.sequence_by or self.event_time,)),
                                 ("effective_dates", self.effective_dates)):
            if missing := [column for column in named if column not in columns]:
                raise ValueError(f"{where}: {attribute} names {', '.join(map(repr, missing))}, "
                                 f"not a column of its contract {self.contract.__name__} "
                                 f"({', '.join(sorted(columns))})")
        if undated := [c for c in self.effective_dates
                       if self.schema[c] not in (pl.Date, pl.Datetime)]:
            raise ValueError(f"{where}: effective_dates names {', '.join(map(repr, undated))}, "
                             "not a date or datetime column of its contract")

    @property
    def silver_name(self) -> str:
        return self.entity or self.name

    @property
    def bronze_table(self) -> str:
        return f"bronze.{self.name}"

    @property
    def manifest_table(self) -> str:
        return f"bronze.{self.name}_manifest"

    @property
    def rejects_table(self) -> str:
        return f"bronze.{self.name}_rejects"

    @property
    def silver_table(self) -> str:
        return f"silver.{self.silver_name}"

    @property
    def quarantine_table(self) -> str:
        return f"silver.{self.silver_name}_quarantine"

    @property
    def schema(self) -> pl.Schema:
        """Typed silver columns, in contract order."""
        columns = self.contract.to_schema().columns
        return pl.Schema({name: column.dtype.type for name, column in columns.items()})

    def column_docs(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Column comments and column tags as declared on the contract's fields."""
        comments, tags = {}, {}
        for name, column in self.contract.to_schema().columns.items():
            if column.description:
                comments[name] = column.description
            if column.metadata and column.metadata.get("tags"):
                tags[name] = list(column.metadata["tags"])
        return comments, tags


@dataclass(frozen=True)
class Expectation:
    """A Great Expectations expectation by its snake_case name, e.g.
    `Expectation("expect_column_values_to_not_be_null", column="customer_id")`."""

    kind: str
    kwargs: Mapping[str, Any]

    def __init__(self, kind: str, **kwargs: Any) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "kwargs", kwargs)


@dataclass(frozen=True)
class Aggregate:
    name: str
    description: str
    inputs: tuple[str, ...]
    """Source names whose silver tables feed this aggregate."""
    build: Callable[[Mapping[str, pl.LazyFrame]], pl.LazyFrame]
    """Computes the aggregate over the full silver inputs; the engine keeps the days it needs.
    Must not depend on row order (round float sums), or backfills and increments may differ."""
    day_column: str
    """The calendar day, in `time_zone`, of the inputs' event time: a gold day reads only the
    rows of that local day."""
    primary_key: tuple[str, ...]
    expectations: tuple[Expectation, ...] = ()
    owner: str = "team:data-eng"
    column_lineage: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """Output column → ((source name, silver column), ...), shown in Dagster's lineage view."""
    time_zone: str = "UTC"
    """IANA time zone of the days in `day_column`, e.g. "America/New_York": day D holds the
    events in [D 00:00, D+1 00:00) local time (23 or 25 hours on a DST change), and `build`
    must compute it so: `pl.col(t).dt.convert_time_zone(time_zone).dt.date()`. A name Python
    or polars does not know raises ValueError when the aggregate is declared."""

    def __post_init__(self) -> None:
        where = f"aggregate {self.name!r}"
        for attribute in ("inputs", "primary_key"):
            tuple_field(self, attribute, str, where)
        tuple_field(self, "expectations", Expectation, where)
        typed_field(self, "day_column", str, where)
        callable_field(self, "build", where)
        validate_time_zone(self.time_zone, where)

    @property
    def table(self) -> str:
        return f"gold.{self.name}"


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    derived_from: tuple[tuple[str, str], ...]
    """(table, column) pairs the feature is computed from: its column lineage."""
    lookback: timedelta | None = None
    """How far before its snapshot the feature looks (e.g. 90 days for a 90-day count): a
    snapshot within this of the first day its table holds saw a truncated window, so its
    value is not comparable with a later one (the drift baseline leaves it out). None: the
    value does not depend on how much history there is."""


SnapshotBuilder = Callable[[Mapping[str, pl.LazyFrame], Sequence[date]], pl.LazyFrame]


@dataclass(frozen=True)
class FeatureTableSpec:
    """A time-series feature table: one snapshot per entity and day.

    The snapshot of day D is stamped `D 00:00` in `time_zone` (the end of local day D - 1, as
    a UTC instant: `lakehouse_ml.features.snapshot_time`) and computed only from data of days
    before D, so a label observed at time t may use every snapshot stamped <= t. The engine
    refuses to write a snapshot stamped otherwise.
    """

    name: str
    description: str
    entity_keys: tuple[str, ...]
    timestamp_key: str
    inputs: tuple[str, ...]
    """Tables (`schema.table`) the builder reads."""
    build: SnapshotBuilder
    """(inputs, snapshot days) -> keys, timestamp and features for exactly those days."""
    features: tuple[Feature, ...]
    owner: str = "team:ml"
    tags: Mapping[str, str] = field(default_factory=dict)
    max_lateness_days: int = 7
    """Where a stateful builder (`features.state.StatefulBuild`) keeps its state: as of this
    many days (plus two) before its last snapshot. It never limits which snapshots are redone:
    late records of day X, however old, redo every snapshot from X + 1, so day-by-day
    refreshes equal a backfill. Records up to this many days late reuse the kept state; older
    ones touch a day it holds, so that refresh deletes it and builds from its inputs (the
    look-back). Larger: fewer such rebuilds, but every refresh reads more days after the
    state. No effect on a plain builder."""
    time_zone: str | None = None
    """IANA time zone of its days: the snapshot of day D is stamped D 00:00 local time. None:
    the zone of the aggregates of its domain it reads (`Domain` sets it; UTC when it reads
    none). A zone other than an input aggregate's is refused when the domain is declared: the
    days it sums would end after the stamp (New York's day D - 1 ends at D 05:00 UTC)."""

    def __post_init__(self) -> None:
        where = f"feature table {self.name!r}"
        for attribute in ("entity_keys", "inputs"):
            tuple_field(self, attribute, str, where)
        tuple_field(self, "features", Feature, where)
        typed_field(self, "timestamp_key", str, where)
        typed_field(self, "time_zone", (str, type(None)), where)
        callable_field(self, "build", where)
        if self.time_zone is not None:
            validate_time_zone(self.time_zone, where)

    @property
    def table(self) -> str:
        return f"gold.{self.name}"

    @property
    def zone(self) -> str:
        """The zone its snapshots are stamped in: `time_zone`, UTC when undeclared."""
        return self.time_zone or "UTC"

    def in_zone_of(self, aggregates: Sequence[Aggregate], where: str) -> FeatureTableSpec:
        """This table with `time_zone` set: the declared one, else the zone of the
        `aggregates` it reads (UTC when none). ValueError naming `where`, this table and the
        aggregate when it reads one of another zone (than the declared, or another input's)."""
        zone, by = self.time_zone, "declares"
        for aggregate in aggregates:
            if aggregate.table not in self.inputs:
                continue
            if zone is None:
                zone, by = aggregate.time_zone, f"reads {aggregate.table} of"
            elif aggregate.time_zone != zone:
                raise ValueError(
                    f"{where}: feature table {self.name!r} {by} time_zone {zone!r} but reads "
                    f"aggregate {aggregate.name!r} ({aggregate.table}) of time_zone "
                    f"{aggregate.time_zone!r}: a snapshot stamped D 00:00 in one zone would "
                    "sum days of the other, which may end after the stamp; give both one zone")
        zone = zone or "UTC"
        return self if zone == self.time_zone else replace(self, time_zone=zone)


@dataclass(frozen=True)
class TrainingSetSpec:
    """Label rows joined point-in-time with feature tables: `FeatureLookup`s and
    `FeatureFunction`s from `lakehouse_ml.features`, declared once for training and serving."""

    name: str
    """Table the training set is written to (`schema.table`)."""
    description: str
    labels: str
    """Table holding the label rows (keys, label time, label)."""
    label: str
    time_column: str
    feature_lookups: tuple[Any, ...]
    exclude_columns: tuple[str, ...] = ()
    owner: str = "team:ml"
    population: pl.Expr | None = None
    """The rows the set, and every model trained on it, are for: a Boolean polars expression
    over a row's label-row columns and its looked-up and computed features. The built set
    leaves out rows where it is not true (false or null), and batch scoring scores only the
    keys whose features, as of the scoring time, satisfy it: training and scoring draw from
    one population. None: every row."""

    def __post_init__(self) -> None:
        where = f"training set {self.name!r}"
        for attribute in ("name", "labels", "label", "time_column"):
            typed_field(self, attribute, str, where)
        if len(self.name.split(".")) != 2 or not all(self.name.split(".")):
            raise ValueError(f"{where}: name must be a table name `schema.table`")
        tuple_field(self, "feature_lookups", object, where)
        tuple_field(self, "exclude_columns", str, where)

    def in_population(self, frame: pl.DataFrame) -> pl.Series:
        """Boolean per row of `frame` (rows with their features): of `population` or not
        (null counts as not); all true when there is none. ValueError naming the training
        set when the expression cannot be evaluated on `frame` (a column it lacks...)."""
        if self.population is None:
            return pl.Series("population", [True] * frame.height, dtype=pl.Boolean)
        try:
            keep = frame.select(self.population.fill_null(False)).to_series()
        except pl.exceptions.PolarsError as error:
            raise ValueError(f"training set {self.name}: its population cannot be evaluated "
                             f"on rows with columns {frame.columns}: {error}") from error
        if keep.dtype != pl.Boolean or keep.len() != frame.height:
            raise ValueError(f"training set {self.name}: its population gives {keep.dtype} "
                             f"x {keep.len()}, not one Boolean per row")
        return keep


@dataclass(frozen=True)
class Domain:
    name: str
    description: str
    start_date: date
    sources: tuple[Source, ...]
    aggregates: tuple[Aggregate, ...] = ()
    feature_tables: tuple[FeatureTableSpec, ...] = ()
    training_set: TrainingSetSpec | None = None

    def __post_init__(self) -> None:
        """ValueError naming the domain and the field when a field has the wrong type
        (`start_date` a `date`, not a string or datetime; lists are taken as tuples), an
        aggregate reads a source the domain does not declare, the training set's label or
        label time is not a column of its labels (when a source of the domain holds them), or
        a feature table reads aggregates of another time zone than its own. Its feature tables
        are kept with their `time_zone` set (`FeatureTableSpec.in_zone_of`)."""
        where = f"domain {self.name!r}"
        for attribute, kind in (("name", str), ("description", str), ("start_date", date),
                                ("training_set", (TrainingSetSpec, type(None)))):
            typed_field(self, attribute, kind, where)
        for attribute, kind in (("sources", Source), ("aggregates", Aggregate),
                                ("feature_tables", FeatureTableSpec)):
            tuple_field(self, attribute, kind, where)
        sources = {source.name for source in self.sources}
        labels = {source.silver_table: source for source in self.sources}.get(
            self.training_set.labels if self.training_set else "")
        if self.training_set and labels:
            columns = set(labels.contract.to_schema().columns)
            for attribute in ("label", "time_column"):
                if getattr(self.training_set, attribute) not in columns:
                    raise ValueError(
                        f"{where}: training set {self.training_set.name!r}: {attribute} "
                        f"{getattr(self.training_set, attribute)!r} is not a column of its "
                        f"labels {labels.silver_table} ({', '.join(sorted(columns))})")
        for aggregate in self.aggregates:
            if unknown := [name for name in aggregate.inputs if name not in sources]:
                raise ValueError(f"{where}: aggregate {aggregate.name!r} reads "
                                 f"{', '.join(map(repr, unknown))}, not a source of the domain "
                                 f"({', '.join(sorted(sources)) or 'none'})")
        object.__setattr__(self, "feature_tables", tuple(
            table.in_zone_of(self.aggregates, where) for table in self.feature_tables))

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"domain {self.name!r} has no source {name!r}")
