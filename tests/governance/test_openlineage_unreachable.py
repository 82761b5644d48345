"""An OpenLineage HTTP endpoint that cannot be reached never fails a sensor tick or a run, and
loses no event: a closed port on 127.0.0.1, a real server answering 500 and one that does not
answer within the configured timeout. The code location's run status sensors are evaluated on
a real instance's run (Dagster's `build_run_status_sensor_context`); the tick returns, the
failure is one logged line naming the endpoint (never the API key), the events are kept under
the root, and once a real endpoint answers, the kept events arrive there exactly once, in
order, before any new one."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from lakehouse_ml.config import Settings
from lakehouse_ml.defs.lineage_events import emit_ended_run, lineage_events
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.governance.openlineage import events_file
from lakehouse_ml.governance.openlineage_delivery import EventsKept, pending, pending_dir
from tests.conftest import project_instance
from tests.governance.test_openlineage import rebuilt
from tests.governance.test_openlineage_dagster import lake, pipeline  # noqa: F401

API_KEY = "ol-secret-api-key-4711"
TIMEOUT = 1.0
ENDED = {"openlineage_start": dg.DagsterEventType.RUN_START,
         "openlineage_complete": dg.DagsterEventType.RUN_SUCCESS}


class Endpoint:
    """A real HTTP server on 127.0.0.1: `answer` is the status it gives each POST (None: it
    holds the request until the server stops); `received` the JSON bodies of the answered."""

    def __init__(self, answer: int | None) -> None:
        self.received: list[dict] = []
        self.posts = 0
        released = self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.posts += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if answer is None:
                    released.wait(30)
                    return
                if answer < 300:
                    outer.received.append(json.loads(body))
                self.send_response(answer)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def closed_port() -> str:
    with socket.socket() as probe:  # bound, then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    started: list[Endpoint] = []
    yield started
    for endpoint in started:
        endpoint.stop()


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """openlineage-python's own configuration: HTTP to `url`, an API key, a short timeout."""
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: http\n  url: {url}\n  timeout: {TIMEOUT}\n"
                      f"  auth:\n    type: api_key\n    apiKey: {API_KEY}\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))


def bad_endpoint(kind: str, endpoints: list[Endpoint]) -> tuple[str, Endpoint | None]:
    if kind == "closed port":
        return closed_port(), None
    endpoint = Endpoint(500 if kind == "answers 500" else None)
    endpoints.append(endpoint)
    return endpoint.url, endpoint


def run_and_tick(settings: Settings, instance: dg.DagsterInstance) -> str:
    """A successful run of the small pipeline, then the START and COMPLETE sensors' ticks."""
    resource = LakehouseResource.from_settings(settings)
    sensors = {s.name: s for s in lineage_events().sensors}
    result = dg.materialize(pipeline(False), resources={"lakehouse": resource},
                            instance=instance)
    run = instance.get_run_by_id(result.run_id)
    for name, status in ENDED.items():
        (event,) = [e.dagster_event for e in instance.all_logs(result.run_id)
                    if e.dagster_event and e.dagster_event.event_type == status]
        context = dg.build_run_status_sensor_context(
            sensor_name=name, dagster_event=event, dagster_instance=instance,
            dagster_run=run, resources={"lakehouse": resource})
        sensors[name](context)  # must return: lineage never fails a tick
    return result.run_id


def resend_tick(settings: Settings, instance: dg.DagsterInstance) -> str:
    sensor = next(s for s in lineage_events().sensors if s.name == "openlineage_kept_events")
    context = dg.build_sensor_context(
        instance=instance, resources={"lakehouse": LakehouseResource.from_settings(settings)})
    return sensor(context).skip_message


@pytest.mark.parametrize("kind", ["closed port", "answers 500", "does not answer"])
def test_an_unreachable_endpoint_fails_no_tick_and_its_events_arrive_once_it_is_back(
        kind: str, lake: Settings, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        endpoints: list[Endpoint]) -> None:
    url, bad = bad_endpoint(kind, endpoints)
    configure(tmp_path, monkeypatch, url)
    with project_instance() as instance:
        began = time.monotonic()
        capfd.readouterr()
        run_id = run_and_tick(lake, instance)
        assert time.monotonic() - began < 20 * TIMEOUT + 10  # bounded: no endless retry

        kept = [json.loads(p.read_text()) for p in pending(lake.root, "dev")]
        assert [(e["run"]["runId"], e["eventType"]) for e in kept] == [
            (run_id, "START"), (run_id, "COMPLETE")]
        logged = capfd.readouterr().err  # the sensor's log (Dagster's logger: stderr)
        said = [line for line in logged.splitlines() if "WARNING - openlineage:" in line]
        assert len(said) == 2 and all(f"{url}/api/v1/lineage" in m for m in said), logged
        assert API_KEY not in logged
        assert "kept" in said[-1] and "2 event(s)" in said[-1]
        if bad is not None:  # reached once per tick: the kept event stops the next send
            assert bad.posts == 2 and bad.received == []
        assert not Path(events_file(lake.root, "dev")).exists()  # not the file instead

        still = resend_tick(lake, instance)  # still down: kept, the tick returns
        assert "could not send" in still and len(pending(lake.root, "dev")) == 2

        back = Endpoint(201)
        endpoints.append(back)
        configure(tmp_path, monkeypatch, back.url)
        assert resend_tick(lake, instance) == "sent 2 kept OpenLineage event(s)"
        assert resend_tick(lake, instance) == "no kept OpenLineage event"
        later = run_and_tick(lake, instance)

    assert [(e["run"]["runId"], e["eventType"]) for e in back.received] == [
        (run_id, "START"), (run_id, "COMPLETE"), (later, "START"), (later, "COMPLETE")]
    assert [rebuilt(e).eventType.value for e in back.received[:2]] == ["START", "COMPLETE"]
    assert pending(lake.root, "dev") == []


def test_a_run_executed_in_process_keeps_both_events_and_says_so_in_one_line(
        lake: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        endpoints: list[Endpoint]) -> None:
    url = closed_port()
    configure(tmp_path, monkeypatch, url)
    resource = LakehouseResource.from_settings(lake)
    with project_instance() as instance:
        result = dg.materialize(pipeline(False), resources={"lakehouse": resource},
                                instance=instance)
        with pytest.raises(EventsKept) as kept:
            emit_ended_run(resource.catalog(), instance, result.run_id)
        message = str(kept.value)
        assert "\n" not in message and url in message and API_KEY not in message
        back = Endpoint(201)
        endpoints.append(back)
        configure(tmp_path, monkeypatch, back.url)
        emit_ended_run(resource.catalog(), instance, result.run_id)  # kept ones first

    assert [e["eventType"] for e in back.received] == ["START", "COMPLETE"] * 2
    assert {e["run"]["runId"] for e in back.received} == {result.run_id}


def test_while_the_endpoint_answers_nothing_is_written_under_the_root(
        lake: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        endpoints: list[Endpoint]) -> None:
    up = Endpoint(201)
    endpoints.append(up)
    configure(tmp_path, monkeypatch, up.url)
    with project_instance() as instance:
        run_id = run_and_tick(lake, instance)
    assert [(e["run"]["runId"], e["eventType"]) for e in up.received] == [
        (run_id, "START"), (run_id, "COMPLETE")]
    assert not pending_dir(lake.root, "dev").exists()
