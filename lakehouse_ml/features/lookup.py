"""`FeatureLookup`: which features of which table to join onto a row, and how."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class FeatureLookup:
    """Join `feature_names` of `table_name` onto each row, matched on `lookup_key`.

    `lookup_key` names the row's columns matching the table's primary keys (in order, the
    timeseries column excluded); `timestamp_lookup_key` names the row's time column for a
    point-in-time match, `lookback_window` bounds how old a matched feature row may be, and
    `default_values` fill nulls of a feature (by feature name) after the join.
    """

    table_name: str
    lookup_key: str | Sequence[str]
    timestamp_lookup_key: str | None = None
    feature_names: Sequence[str] | None = None
    rename_outputs: Mapping[str, str] | None = None
    lookback_window: timedelta | None = None
    default_values: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.lookback_window is not None and self.lookback_window < timedelta(0):
            raise ValueError(f"lookback_window of {self.table_name} must not be negative")

    @property
    def lookup_keys(self) -> list[str]:
        return [self.lookup_key] if isinstance(self.lookup_key, str) else list(self.lookup_key)

    def output_name(self, feature: str) -> str:
        return (self.rename_outputs or {}).get(feature, feature)


def time_columns(steps: Iterable[object]) -> list[str]:
    """The row time columns the point-in-time lookups among `steps` read, each once."""
    return list(dict.fromkeys(
        s.timestamp_lookup_key for s in steps
        if isinstance(s, FeatureLookup) and s.timestamp_lookup_key is not None
    ))
