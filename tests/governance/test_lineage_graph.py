"""Column lineage checked against the Dagster asset graph: every column edge the domains
declare, and every one the catalog recorded while materializing, joins a table to one of its
upstream assets; a declaration naming a table that is not upstream is caught. And Dagster's
`dagster/column_lineage` metadata is the declarations themselves (`lineage_columns`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import dagster as dg
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.definitions import defs
from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.domains import declared_domains
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.governance.lineage import COLUMN_LINEAGE
from lakehouse_ml.governance.lineage_columns import Deps, domain_columns
from tests.conftest import Backfill


def upstream_tables(definitions: dg.Definitions) -> dict[str, set[str]]:
    """Table (`schema.table`) → the tables of its parent assets in the asset graph."""
    graph = definitions.resolve_asset_graph()
    return {".".join(node.key.path): {".".join(p.path) for p in node.parent_keys}
            for node in graph.asset_nodes}


def outside_graph(columns: Mapping[str, Deps], upstream: Mapping[str, set[str]]) -> list[str]:
    """Each declared column edge whose source table is not a parent asset of its target."""
    return [f"{table}.{column} <- {source}.{source_column}"
            for table, deps in columns.items() for column, sources in deps.items()
            for source, source_column in sources
            if source not in upstream.get(table, set())]


def test_every_declared_column_edge_follows_the_asset_graph() -> None:
    upstream = upstream_tables(defs())
    domains = declared_domains()
    assert DOMAIN.name in {d.name for d in domains}
    for domain in domains:
        columns = domain_columns(domain)
        assert {t for t in columns if t.startswith("gold.")}  # aggregates are declared
        assert outside_graph(columns, upstream) == [], domain.name


def test_a_declaration_naming_a_table_that_is_not_upstream_is_caught() -> None:
    aggregate = DOMAIN.aggregates[0]
    other = next(s for s in DOMAIN.sources if s.name not in aggregate.inputs)
    wrong = dataclasses.replace(aggregate, column_lineage={
        **aggregate.column_lineage, "day": ((other.name, "customer_id"),)})
    domain = dataclasses.replace(DOMAIN, aggregates=(wrong, *DOMAIN.aggregates[1:]))
    assets = [*medallion_assets(domain), *feature_assets(domain, daily_partitions(domain)),
              training_set_asset(domain.training_set, domain)]
    graph = dg.Definitions(assets=assets,
                           resources={"lakehouse": dg.ResourceDefinition.none_resource()})
    found = outside_graph(domain_columns(domain), upstream_tables(graph))
    assert found == [f"{aggregate.table}.day <- {other.silver_table}.customer_id"]


def test_recorded_column_lineage_joins_tables_connected_in_the_asset_graph(
        backfill: Backfill) -> None:
    upstream = upstream_tables(defs())
    rows = Catalog(backfill.settings.root, "dev", governed=False).read(COLUMN_LINEAGE)
    pairs = rows.select(pl.col("source_table_full_name").str.splitn(".", 2)
                        .struct.field("field_1").alias("source"),
                        pl.col("target_table_full_name").str.splitn(".", 2)
                        .struct.field("field_1").alias("target")).unique()
    assert pairs.height > 10  # bronze → silver → gold → features, not a trivial run
    for source, target in pairs.iter_rows():
        assert source in upstream[target], f"{source} -> {target}"


def test_dagster_column_lineage_metadata_is_the_declarations(backfill: Backfill) -> None:
    declared = domain_columns(DOMAIN)
    shown: dict[str, Deps] = {}
    for event in backfill.events:
        if event.event_type_value != "ASSET_MATERIALIZATION":
            continue
        materialization = event.event_specific_data.materialization
        lineage = materialization.metadata.get("dagster/column_lineage")
        if lineage is not None:
            shown[".".join(materialization.asset_key.path)] = {
                column: sorted((".".join(d.asset_key.path), d.column_name) for d in deps)
                for column, deps in lineage.value.deps_by_column.items()}
    assert shown and shown == {t: {c: sorted(d) for c, d in declared[t].items()}
                               for t in shown}
    assert set(declared) - set(shown) == {DOMAIN.training_set.name}  # not in this run
