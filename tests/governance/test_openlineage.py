"""OpenLineage RunEvents (engine part of issue 14 item 3): built with openlineage-python's
classes, emitted to the events file and over HTTP to a real server on 127.0.0.1; each event
read back is rebuilt from its JSON with the library's own classes and must serialize to the
same JSON (a field or facet the spec's classes do not have, or lack, fails)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    error_message_run,
    ownership_dataset,
    schema_dataset,
    tags_run,
)
from openlineage.client.serde import Serde

from lakehouse_ml.governance.openlineage import (
    PRODUCER,
    Check,
    LineageDataset,
    events_file,
    lineage_client,
    namespace,
    run_event,
)

SILVER = LineageDataset("dev.silver.events", 3, pl.Schema({"customer_id": pl.Int64,
                                                           "revenue": pl.Float64}),
                        "team:data-eng", checks=[Check("contract", True)])
GOLD = LineageDataset("dev.gold.daily_activity", 5, pl.Schema({"customer_id": pl.Int64,
                                                               "revenue": pl.Float64}),
                      "team:data-eng",
                      {"revenue": [("dev.silver.events", "revenue")],
                       "customer_id": [("dev.silver.events", "customer_id")]},
                      [Check("expectations", False, "error", "revenue >= 0")])


def _facet(name: str, body: dict) -> object:
    plain = {k: v for k, v in body.items() if not k.startswith("_")}
    lineage, quality = column_lineage_dataset, data_quality_assertions_dataset
    if name == "schema":
        return schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(**f) for f in plain["fields"]])
    if name == "version":
        return dataset_version_dataset.DatasetVersionDatasetFacet(**plain)
    if name == "ownership":
        return ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(**o) for o in plain["owners"]])
    if name == "columnLineage":
        return lineage.ColumnLineageDatasetFacet(fields={
            column: lineage.Fields(inputFields=[lineage.InputField(**i)
                                                for i in f["inputFields"]])
            for column, f in plain["fields"].items()}, dataset=plain["dataset"])
    if name == "dataQualityAssertions":
        return quality.DataQualityAssertionsDatasetFacet(
            assertions=[quality.Assertion(**a) for a in plain["assertions"]])
    if name == "tags":  # the client's own run facet: its version
        return tags_run.TagsRunFacet(tags=[tags_run.TagsRunFacetFields(**f)
                                           for f in plain["tags"]])
    if name == "errorMessage":
        return error_message_run.ErrorMessageRunFacet(**plain)
    raise AssertionError(f"unexpected facet {name}")


def rebuilt(event: dict) -> RunEvent:
    """The event rebuilt from its JSON with openlineage-python's classes (validators run)."""
    def facets(found: dict) -> dict:
        return {name: _facet(name, body) for name, body in found.items()}

    return RunEvent(
        eventType=RunState(event["eventType"]), eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"], facets=facets(event["run"]["facets"])),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"],
                             facets=facets(d["facets"]), inputFacets=facets(d["inputFacets"]))
                for d in event["inputs"]],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"],
                               facets=facets(d["facets"])) for d in event["outputs"]],
        producer=event["producer"])


def lifecycle(root: str, run_id: str) -> list[RunEvent]:
    return [run_event(root, RunState.START, run_id, "lakehouse_ml", "churn_daily_refresh"),
            run_event(root, RunState.COMPLETE, run_id, "lakehouse_ml", "churn_daily_refresh",
                      [SILVER], [GOLD]),
            run_event(root, RunState.FAIL, run_id, "lakehouse_ml", "churn_daily_refresh",
                      [SILVER], error="step gold_daily_activity failed: boom")]


def assert_valid(sent: list[dict], run_id: str, root: str) -> None:
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE", "FAIL"]
    for event in sent:
        assert Serde.to_dict(rebuilt(event)) == event
        assert event["run"]["runId"] == run_id and event["producer"] == PRODUCER
    complete = sent[1]
    (source,), (target,) = complete["inputs"], complete["outputs"]
    assert source["namespace"] == namespace(root) and source["name"] == "dev.silver.events"
    assert source["facets"]["version"]["datasetVersion"] == "3"
    assert source["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"] is True
    assert [f["name"] for f in target["facets"]["schema"]["fields"]] == ["customer_id",
                                                                          "revenue"]
    assert target["facets"]["ownership"]["owners"] == [{"name": "team:data-eng"}]
    (field,) = target["facets"]["columnLineage"]["fields"]["revenue"]["inputFields"]
    assert (field["name"], field["field"]) == ("dev.silver.events", "revenue")
    assert target["facets"]["dataQualityAssertions"]["assertions"] == [
        {"assertion": "expectations", "success": False, "severity": "error",
         "description": "revenue >= 0", "params": {}}]
    assert sent[2]["run"]["facets"]["errorMessage"]["message"].endswith("boom")


def test_events_go_to_the_file_under_the_lakehouse_root(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    root, run_id = str(tmp_path / "lake"), str(uuid.uuid4())
    client = lineage_client(root, "dev")
    for event in lifecycle(root, run_id):
        client.emit(event)

    lines = Path(events_file(root, "dev")).read_text().splitlines()
    assert_valid([json.loads(line) for line in lines], run_id, root)


@pytest.fixture
def marquez() -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    """A Marquez-like HTTP endpoint on 127.0.0.1 recording (path, JSON body) of each POST."""
    received: list[tuple[str, dict]] = []

    class Lineage(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Lineage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_events_go_over_http_when_a_url_is_configured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        marquez: tuple[str, list[tuple[str, dict]]]) -> None:
    url, received = marquez
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    root, run_id = str(tmp_path / "lake"), str(uuid.uuid4())
    client = lineage_client(root, "dev")
    for event in lifecycle(root, run_id):
        client.emit(event)

    assert {path for path, _ in received} == {"/api/v1/lineage"}
    assert_valid([body for _, body in received], run_id, root)
    assert not Path(events_file(root, "dev")).exists()
