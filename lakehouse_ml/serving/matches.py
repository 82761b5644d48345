"""Which feature lookups found a row for each key: an unknown key must not pass for a known one.

A model's lookup fills a key nobody published (or whose row is too new or too old for the
serving time) with nulls and the lookups' defaults, which the model scores like any other row.
`Matches` asks the same row lookup (same store, time and lookback rules) for the features of
each lookup, without defaults and under names of its own: a lookup whose features all come
back null found no row for that key. Only features rows carry as plain values are asked for
(a timestamp column would send the whole probe down the slow frame path), unless a lookup
has none.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import polars as pl

from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.medallion.spec import TrainingSetSpec
from lakehouse_ml.serving.model import serving_lookup
from lakehouse_ml.serving.predictor import Columns


def _plain(dtype: pl.DataType) -> bool:
    return (dtype.is_integer() or dtype in (pl.Float32, pl.Float64, pl.Boolean, pl.String)
            or isinstance(dtype, pl.Categorical | pl.Enum))


class Matches:
    def __init__(self, client: FeatureEngineeringClient, spec: TrainingSetSpec,
                 keys: pl.Schema) -> None:
        lookups = [s for s in spec.feature_lookups if isinstance(s, FeatureLookup)]
        self.tables: list[str] = []
        self._outputs: list[list[str]] = []
        probes = []
        for index, step in enumerate(lookups):
            table = client.get_table(step.table_name)
            features = list(step.feature_names or table.feature_names)
            if not features:
                continue
            features = [f for f in features if _plain(table.schema[f])] or features
            self.tables.append(step.table_name)
            names = {f: f"__lookup{index}__{f}" for f in features}
            probes.append(dataclasses.replace(step, feature_names=features,
                                              rename_outputs=names, default_values=None))
            self._outputs.append(list(names.values()))
        self._lookup = serving_lookup(
            client, dataclasses.replace(spec, feature_lookups=tuple(probes)), keys,
            [o for outputs in self._outputs for o in outputs])[0] if probes else None

    def __call__(self, keys: Columns, at: datetime) -> list[list[str]]:
        """Per row of `keys` (key columns), the feature tables whose lookup found no row as
        of `at`."""
        if self._lookup is None:
            return [[] for _ in next(iter(keys.values()))]
        found = self._lookup(keys, at)
        missing = [[all(v is None for v in row) for row in zip(*(found[o] for o in outputs),
                                                               strict=True)]
                   for outputs in self._outputs]
        return [[t for t, m in zip(self.tables, flags, strict=True) if m]
                for flags in zip(*missing, strict=True)]
