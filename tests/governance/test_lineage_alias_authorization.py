"""Lineage decides whether the reader may see a model before it asks the registry anything: a
reader who may not see the model gets the same denial (one 403 `getTableLineage` record) for
an alias that exists, one that does not, a model that does not exist, a version that exists and
one that does not; a landed file recorded in lineage and one that is not are denied alike too.
Only a reader who may see the model is told that an alias or model is unknown. A real MLflow
sqlite store (a registered model `dev.silver.clf`, version 1, alias `champion`), real Delta
tables, the real metastore and audit log."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.lineage import close_lineage_logs
from lakehouse_ml.governance.lineage_query import UPSTREAM, UnknownLineageName, lineage
from tests.governance.audit_support import params, records

MODEL = "dev.silver.clf"
FILE = "customers/2026-03-01/part-0.csv"
"""A landed file recorded in lineage (read before a write of dev.silver.customers)."""


@pytest.fixture
def registry(tmp_path: Path) -> MlflowClient:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, source=str(tmp_path / "artifacts"))
    client.set_registered_model_alias(MODEL, "champion", "1")
    return client


@pytest.fixture
def recorded(metastore: Metastore) -> Metastore:
    """By the admin: `FILE` read, then dev.silver.customers written (PATH → TABLE); that
    table read, then version 1 of `MODEL` registered (TABLE → MODEL)."""
    admin = Catalog(metastore.root, "dev")
    admin.record_path_reads([FILE])
    admin.append("silver.customers", pl.DataFrame(
        {"id": [1], "email": ["a@x.io"], "tenant_id": ["t1"]}))
    admin.read("silver.customers")
    admin.record_model_version(MODEL, 1)
    close_lineage_logs()
    return metastore


GONE = "dev.silver.gone"
OTHER = FILE.replace("part-0", "part-9")
"""A model and a landed file that do not exist."""


def _masked(text: str) -> str:
    for name in (MODEL, GONE, FILE, OTHER):
        text = text.replace(name, "<name>")
    return text


def _denied(metastore: Metastore, catalog: Catalog, name: str, client: MlflowClient
            ) -> tuple[str, dict[str, str]]:
    """The PermissionDenied's text `lineage(name)` raises and its one audit record's
    action, type and securable, every name masked (`<name>`)."""
    before = records(metastore).height
    with pytest.raises(PermissionDenied) as denied:
        lineage(catalog, name, UPSTREAM, client=client)
    rows = records(metastore).slice(before).to_dicts()
    assert len(rows) == 1, rows
    assert (rows[0]["user"], rows[0]["status"], rows[0]["error"]) == (
        "ann", 403, str(denied.value))
    said = params(rows[0])
    return _masked(str(denied.value)), {"action": rows[0]["action"], "type": said["type"],
                                        "securable": _masked(said["securable"])}


ALIASES = (f"{MODEL}@champion", f"{MODEL}@nope", f"{GONE}@champion", "silver.clf@nope")
VERSIONS = (f"{MODEL}/1", f"{MODEL}/99", f"{GONE}/1", "silver.gone")


@pytest.mark.parametrize("holding", [[], [("USE CATALOG", "CATALOG", "dev"),
                                          ("USE SCHEMA", "SCHEMA", "silver")]])
def test_an_alias_version_or_model_is_denied_alike_whether_or_not_it_exists(
        recorded: Metastore, registry: MlflowClient,
        holding: list[tuple[str, str, str]]) -> None:
    """Nothing, or USE CATALOG + USE SCHEMA only (short of seeing the model): each form gets
    one denial text and one record shape for all of its names, whatever the registry holds
    and whether lineage records the model (it does `MODEL`); an alias is asked as a model
    (BROWSE or EXECUTE)."""
    metastore = recorded
    for privilege, kind, name in holding:
        metastore.grant([privilege], kind, name, "ann")
    ann = Catalog(metastore.root, "dev", principal="ann")
    for names in (ALIASES, VERSIONS):
        said = [_denied(metastore, ann, name, registry) for name in names]
        assert len({text for text, _ in said}) == 1, said
        assert all(record == said[0][1] for _, record in said), said
        assert said[0][1]["action"] == "getTableLineage"
    assert "BROWSE or EXECUTE on MODEL <name>" in _denied(metastore, ann, ALIASES[1],
                                                            registry)[0]


def test_a_landed_file_is_denied_alike_whether_or_not_lineage_records_it(
        recorded: Metastore, registry: MlflowClient) -> None:
    """A recorded file ann may not see (she may see no table it fed) and a file name nothing
    recorded: the same denial; the admin is told the second is unknown."""
    ann = Catalog(recorded.root, "dev", principal="ann")
    said = [_denied(recorded, ann, name, registry) for name in (FILE, OTHER)]
    assert said[0] == said[1], said
    admin = Catalog(recorded.root, "dev")
    assert lineage(admin, FILE, "downstream").vertices()
    assert lineage(admin, f"{MODEL}/1", UPSTREAM).root.type == "MODEL"
    with pytest.raises(UnknownLineageName, match="landed file with lineage"):
        lineage(admin, OTHER, UPSTREAM)


@pytest.mark.parametrize("grant", [("BROWSE", "CATALOG", "dev"),
                                   ("EXECUTE", "SCHEMA", "silver")])
def test_a_reader_who_may_see_the_model_is_told_what_is_unknown(
        metastore: Metastore, registry: MlflowClient, grant: tuple[str, str, str]) -> None:
    """BROWSE on the catalog, or EXECUTE on the schema (reaching its models): the alias is
    resolved (the champion's version), an unknown alias and an unknown model are named, and
    the allowed question is one 200 record."""
    privilege, kind, name = grant
    metastore.grant([privilege], kind, name, "ann")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "silver", "ann")
    ann = Catalog(metastore.root, "dev", principal="ann")
    before = records(metastore).height
    assert lineage(ann, f"{MODEL}@champion", UPSTREAM, client=registry).version == 1
    assert [(r["action"], r["status"]) for r in records(metastore).slice(before).to_dicts()
            ] == [("getTableLineage", 200)]
    with pytest.raises(UnknownLineageName, match=f"model {MODEL} has no alias 'nope'"):
        lineage(ann, f"{MODEL}@nope", UPSTREAM, client=registry)
    with pytest.raises(UnknownLineageName, match="no registered model dev.silver.gone"):
        lineage(ann, "silver.gone@champion", UPSTREAM, client=registry)
    with pytest.raises(UnknownLineageName, match="'silver.gone/1' has lineage"):
        lineage(ann, "silver.gone/1", UPSTREAM, client=registry)
