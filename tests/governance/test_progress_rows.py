"""`pipeline.progress` is governed row by row (stranger11c finding 2): every domain's pipeline
holds MODIFY on it, yet writes (append, appender, merge, delete, overwrite) only the rows of
tables it may MODIFY, and reads only the rows of tables it may see; a write touching another
domain's row is denied whole (nothing written), naming the principal and that row's table, and
audited; metastore admins keep full access. Real Delta tables, the real metastore and every
domain's derived grants, applied as a pipeline process applies them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.resources import apply_domain_grants, domain_principals
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.medallion.progress import MARKS, Pending, mark_processed
from lakehouse_ml.medallion.progress import TABLE as PROGRESS
from tests.governance.domain_support import audited_denials
from tests.user_domains import declare_user_domains

CHURN, FLEET = "churn-pipeline", "fleet-pipeline"
OWN, FOREIGN = "dev.silver.events", "dev.gold.vehicle_days"
"""A table of churn's, and one of fleet's (churn's pipeline may not MODIFY it)."""
FAR = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture
def lakehouse(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """churn beside `fleet` and `sensors`, every domain's grants applied, and
    `pipeline.progress` holding one mark of churn's table and one of fleet's, written by
    the admin as `mark_processed` writes them."""
    declare_user_domains(monkeypatch)
    principals, _ = domain_principals()  # the derived grants alone: no policy needed
    apply_domain_grants(settings.root, settings.env, list(principals))
    admin = Catalog(settings.root, settings.env)
    for table in (OWN, FOREIGN):
        mark_processed(admin, Pending(table, ["2026-11-29"], marks("2026-11-29")))
    yield settings


def marks(batch: str, at: datetime = datetime(2026, 11, 30, tzinfo=UTC)) -> pl.DataFrame:
    return pl.DataFrame({"source": ["taps"], "batch_id": [batch], "ingested_at": [at]},
                        schema=MARKS)


def rows(*tables: str, batch: str = "2026-11-30", at: datetime = FAR) -> pl.DataFrame:
    """Progress rows (the table's schema) for `tables`, one each."""
    return pl.concat([marks(batch, at).select(pl.lit(t).alias("table"), *MARKS.names(),
                                              processed_at=pl.lit(at)) for t in tables])


def as_(settings: Settings, principal: str) -> Catalog:
    return Catalog(settings.root, settings.env, principal=principal)


def stored(settings: Settings) -> pl.DataFrame:
    return Catalog(settings.root, settings.env, governed=False).read(PROGRESS).sort(
        "table", "batch_id")


def test_the_strangers_forgery_is_denied_whole_named_and_audited_the_owners_is_not(
        lakehouse: Settings) -> None:
    churn, before = as_(lakehouse, CHURN), stored(lakehouse)
    version = churn.version(PROGRESS)
    forged = rows(OWN, FOREIGN)  # its own row does not carry the other domain's through

    with pytest.raises(PermissionDenied) as denied:
        churn.append(PROGRESS, forged)

    # churn's pipeline may not see fleet's table: the denial does not name it
    assert (denied.value.principal, denied.value.securable) == (CHURN, f"TABLE dev.{PROGRESS}")
    assert "(a row of a table it may not see: " in str(denied.value)
    assert FOREIGN not in str(denied.value)
    assert churn.version(PROGRESS) == version and stored(lakehouse).equals(before)
    assert any(f"'{CHURN}' does not have MODIFY on TABLE dev.{PROGRESS} (a row of a table it "
               "may not see" in e for e in audited_denials(lakehouse, CHURN))
    with pytest.raises(PermissionDenied, match="a row of a table it may not see"):
        churn.appender(PROGRESS)(rows(FOREIGN))
    with pytest.raises(PermissionDenied, match="a row of a table it may not see"):
        churn.append(PROGRESS, rows("dev.gold.no_such_table"))  # the same: no existence told
    Metastore(lakehouse.root, lakehouse.env).grant(["SELECT"], "TABLE", FOREIGN, CHURN)
    with pytest.raises(PermissionDenied) as seen:  # a table it may see is named
        churn.append(PROGRESS, forged)
    assert seen.value.securable == f"TABLE {FOREIGN}"
    assert f"needed to write its rows in dev.{PROGRESS}" in str(seen.value)
    with pytest.raises(PermissionDenied, match="a row naming no table"):
        churn.append(PROGRESS, rows(OWN).with_columns(table=pl.lit(None, pl.String)))
    assert stored(lakehouse).equals(before)

    as_(lakehouse, FLEET).append(PROGRESS, rows(FOREIGN))  # the table's own pipeline may
    churn.append(PROGRESS, rows(OWN))
    as_(lakehouse, local_user()).append(PROGRESS, rows(OWN, FOREIGN, batch="2026-12-01"))
    assert stored(lakehouse).group_by("table").len().sort("table").rows() == [
        (FOREIGN, 3), (OWN, 3)]


def test_deletes_overwrites_and_merges_reaching_another_domains_rows_are_denied(
        lakehouse: Settings) -> None:
    churn, before = as_(lakehouse, CHURN), stored(lakehouse)
    attempts = {
        "delete": lambda: churn.delete(PROGRESS, "batch_id = '2026-11-29'"),
        "overwrite": lambda: churn.overwrite(PROGRESS, rows(OWN)),
        "replace": lambda: churn.overwrite(PROGRESS, rows(OWN, batch="2026-11-29"),
                                           predicate="batch_id = '2026-11-29'"),
        "merge": lambda: churn.merge(PROGRESS, rows(OWN, batch="2026-11-29"),
                                     keys=["source", "batch_id"]),
        "undecidable": lambda: churn.delete(PROGRESS, "no_such_column = 1"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(PermissionDenied) as denied:
            attempt()
        assert denied.value.principal == CHURN, what
        assert denied.value.securable == f"TABLE dev.{PROGRESS}", what
        assert FOREIGN not in str(denied.value), what  # stored rows of a table it may not see
        assert stored(lakehouse).equals(before), what

    churn.delete(PROGRESS, f"\"table\" = '{OWN}'")  # its own rows only: allowed
    churn.merge(PROGRESS, rows(OWN), keys=["table", "source", "batch_id"])

    assert stored(lakehouse).select("table", "batch_id").rows() == [
        (FOREIGN, "2026-11-29"), (OWN, "2026-11-30")]
    as_(lakehouse, local_user()).delete(PROGRESS, "batch_id = '2026-11-29'")  # the admin
    assert stored(lakehouse)["table"].to_list() == [OWN]


def test_a_pipeline_reads_only_the_rows_of_tables_it_may_see(lakehouse: Settings) -> None:
    assert as_(lakehouse, CHURN).read(PROGRESS)["table"].to_list() == [OWN]
    assert as_(lakehouse, FLEET).scan(PROGRESS).collect()["table"].to_list() == [FOREIGN]
    assert sorted(as_(lakehouse, local_user()).read(PROGRESS)["table"]) == [FOREIGN, OWN]
