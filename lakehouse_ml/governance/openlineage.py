"""OpenLineage RunEvents for the lakehouse's runs, built and emitted with `openlineage-python`.

A run reads and writes tables (`LineageDataset`: full name, Delta version, schema, owner,
column lineage, the data-quality checks evaluated on it); `run_event` turns one state of the
run (START, COMPLETE, FAIL) into a `RunEvent` whose datasets carry the facets `schema`,
`columnLineage`, `dataQualityAssertions`, `version` (datasetVersion) and `ownership`. Dataset
namespace: the lakehouse root (`file:///...` or the object-store URI); name: the table's full
name `catalog.schema.table`, so the environment is part of the name.

`lineage_client` emits to a file under the lakehouse root by default
(`<root>/<env>/_governance/openlineage/events.jsonl`, one JSON event per line); over HTTP to
a Marquez-compatible endpoint (`POST <url>/api/v1/lineage`) when a URL is given; else
wherever openlineage-python's own configuration says when there is one: `$OPENLINEAGE_URL`
(with `$OPENLINEAGE_API_KEY`, `$OPENLINEAGE_ENDPOINT`), a YAML file at `$OPENLINEAGE_CONFIG`,
`./openlineage.yml` or `~/.openlineage/openlineage.yml` (any of its transports: http, kafka,
file, console, composite...), `$OPENLINEAGE__TRANSPORT__TYPE` with the other
`$OPENLINEAGE__TRANSPORT__...` variables, or `OPENLINEAGE_DISABLED=true`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    error_message_run,
    ownership_dataset,
    schema_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

PRODUCER = "https://github.com/lakehouse-ml/lakehouse_ml"
URL_ENV, CONFIG_ENV, DISABLED_ENV = "OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED"
TRANSPORT_ENV = "OPENLINEAGE__TRANSPORT__TYPE"
"""The transport's type in openlineage-python's environment-variable configuration (the
other `OPENLINEAGE__...` variables alone configure none; the library itself writes some
when `$OPENLINEAGE_URL` is set)."""
CONFIG_FILES = ("openlineage.yml", "~/.openlineage/openlineage.yml")
"""Where openlineage-python looks for its YAML configuration after `$OPENLINEAGE_CONFIG`."""
EVENTS_FILE = "_governance/openlineage/events.jsonl"
"""Under `<root>/<env>/`: the file transport's output."""


@dataclass(frozen=True)
class Check:
    """One data-quality check evaluated on a dataset in the run (a Dagster asset check)."""

    name: str
    passed: bool
    severity: str = "error"
    description: str | None = None


@dataclass(frozen=True)
class LineageDataset:
    table: str
    """Full name `catalog.schema.table`."""
    version: int | None = None
    """The Delta version read or written."""
    schema: pl.Schema | None = None
    owner: str | None = None
    column_lineage: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    """Output column → the (full table name, column) pairs it is computed from."""
    checks: Sequence[Check] = ()


def namespace(root: str) -> str:
    """The datasets' namespace: the lakehouse root as a URI."""
    return root if "://" in root else Path(root).resolve().as_uri()


def _facets(root: str, dataset: LineageDataset) -> dict:
    facets: dict = {}
    if dataset.schema is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=name, type=str(dtype),
                                                    ordinal_position=position)
            for position, (name, dtype) in enumerate(dataset.schema.items(), start=1)])
    if dataset.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=str(dataset.version))
    if dataset.owner:
        facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=dataset.owner)])
    if dataset.column_lineage:
        lineage = column_lineage_dataset
        facets["columnLineage"] = lineage.ColumnLineageDatasetFacet(fields={
            column: lineage.Fields(inputFields=[
                lineage.InputField(namespace=namespace(root), name=table, field=source)
                for table, source in sources])
            for column, sources in dataset.column_lineage.items()})
    return facets


def _assertions(dataset: LineageDataset) -> dict:
    if not dataset.checks:
        return {}
    quality = data_quality_assertions_dataset
    return {"dataQualityAssertions": quality.DataQualityAssertionsDatasetFacet(assertions=[
        quality.Assertion(assertion=check.name, success=check.passed, severity=check.severity,
                          description=check.description) for check in dataset.checks])}


def run_event(root: str, state: RunState, run_id: str, job_namespace: str, job: str,
              inputs: Sequence[LineageDataset] = (), outputs: Sequence[LineageDataset] = (),
              *, error: str | None = None, at: datetime | None = None) -> RunEvent:
    """The RunEvent of `run_id` (a UUID, as Dagster's run ids) entering `state`. Check results
    of an input go into its `inputFacets`, of an output into its facets. `error`: the
    failure's message (an `errorMessage` run facet, for FAIL)."""
    run_facets = {} if error is None else {"errorMessage": error_message_run.ErrorMessageRunFacet(
        message=error, programmingLanguage="python")}
    return RunEvent(
        eventType=state, eventTime=(at or datetime.now(UTC)).isoformat(),
        run=Run(runId=run_id, facets=run_facets), job=Job(namespace=job_namespace, name=job),
        inputs=[InputDataset(namespace=namespace(root), name=d.table, facets=_facets(root, d),
                             inputFacets=_assertions(d)) for d in inputs],
        outputs=[OutputDataset(namespace=namespace(root), name=d.table,
                               facets={**_facets(root, d), **_assertions(d)})
                 for d in outputs],
        producer=PRODUCER)


def events_file(root: str, env: str) -> str:
    return f"{root.rstrip('/')}/{env}/{EVENTS_FILE}"


def configured() -> bool:
    """Whether openlineage-python has a configuration of its own (see the module docstring)."""
    files = (os.environ.get(CONFIG_ENV), *(os.path.expanduser(f) for f in CONFIG_FILES))
    return (bool(os.environ.get(URL_ENV))
            or os.environ.get(DISABLED_ENV, "").strip().lower() == "true"
            or bool(os.environ.get(TRANSPORT_ENV))
            or any(f and os.path.isfile(f) for f in files))


def lineage_client(root: str, env: str, url: str | None = None) -> OpenLineageClient:
    """HTTP to `url` when given; else openlineage-python's own configuration when there is
    one (`configured`); else the events file under `root` (`events_file`). A malformed
    configuration raises ValueError (from the library)."""
    if url:
        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))
    if configured():
        return OpenLineageClient()
    path = events_file(root, env)
    if "://" not in path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=path,
                                                                append=True)))
