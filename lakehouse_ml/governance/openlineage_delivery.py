"""Delivery of OpenLineage events that never fails the caller and never loses an event.

openlineage-python's clients raise when their transport fails (an HTTP endpoint that refuses,
answers 5xx or does not answer); its integrations (Airflow, Spark) log the failure and drop
the event. Here an event that cannot be sent is kept instead: one JSON file per event in a
spool (`pending_dir`: `<root>/<env>/_governance/openlineage/pending/` for a local root; for an
object-store root, a folder of this machine's state directory, since the processes that emit
run here), and `deliver` sends the kept events, oldest first, before any new one. The first
that fails stops the delivery (the endpoint is still down: at most one timeout per call) and
every later event is kept behind it, so the order is kept. A kept file is removed once its
event was sent, under a lock (`fcntl.flock`), so concurrent deliveries (the daemon evaluates
sensors in threads) send each kept event once; only a crash between the send and the removal sends
one again (at-least-once, as OpenLineage consumers such as Marquez expect).

An HTTP transport is bounded: its timeout at most `SEND_SECONDS` (connect and each read), and
no retry within a call (retries are the later deliveries). Kept events are re-sent as the JSON
they were serialized to, through the same transport.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from openlineage.client import OpenLineageClient
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpTransport

SEND_SECONDS = 5.0
"""Most seconds an HTTP transport waits to connect, and for each read of the answer."""
PENDING = "_governance/openlineage/pending"
"""Under `<root>/<env>/` (local root): the kept events."""
STATE_HOME = "~/.local/state/lakehouse_ml/openlineage"
"""Where kept events of an object-store root go: `<STATE_HOME>/<sha256(root)[:16]>/<env>`."""


class EventsKept(RuntimeError):
    """Events could not be sent and are kept to be sent later; the message is one line naming
    the endpoint (without credentials), why, and how many events are kept."""


def pending_dir(root: str, env: str) -> Path:
    """The folder of `root`'s kept events (see the module docstring)."""
    if "://" not in root:
        return Path(root) / env / PENDING
    digest = hashlib.sha256(root.encode()).hexdigest()[:16]
    return Path(STATE_HOME).expanduser() / digest / env


def pending(root: str, env: str) -> list[Path]:
    """The kept event files, oldest first."""
    folder = pending_dir(root, env)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def bounded(client: OpenLineageClient) -> OpenLineageClient:
    """`client` with its HTTP transport (if any) bounded as the module docstring says."""
    transport = client.transport
    if isinstance(transport, HttpTransport):
        transport.timeout = min(transport.timeout, SEND_SECONDS)
        transport.config.retry = {"total": 0, "status_forcelist": [],
                                  "allowed_methods": ["HEAD", "POST"]}
        transport.session = None  # the next send mounts an adapter with that retry
    return client


def endpoint(client: OpenLineageClient) -> str:
    """Where `client` sends, for messages: an HTTP URL without user, password or query
    (API keys go in headers, never here), a file's path, or the transport's kind."""
    transport = client.transport
    if isinstance(transport, HttpTransport):
        url = urlsplit(urljoin(transport.url, transport.endpoint))
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.hostname}{port}{url.path}"
    path = getattr(transport, "log_file_path", None)
    return str(path) if path else f"the {getattr(transport, 'kind', 'configured')} transport"


def _why(error: Exception) -> str:
    """The failure without its message (which may hold the URL and its query)."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        return f"HTTP {status}"
    timed_out = any(type(e).__name__.endswith("Timeout") for e in _chain(error))
    return "no answer in time" if timed_out else type(error).__name__


def _chain(error: BaseException) -> Iterator[BaseException]:
    found: BaseException | None = error
    while found is not None:
        yield found
        found = found.__cause__ or found.__context__


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _keep(folder: Path, body: str) -> None:
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
    partial = folder / f".{name}.part"
    partial.write_text(body)
    os.replace(partial, folder / name)  # a reader never sees half an event


def _resend(client: OpenLineageClient, folder: Path) -> tuple[int, Exception | None]:
    """Send the kept events oldest first, removing each once sent, until one fails."""
    sent = 0
    with _locked(folder):
        for path in sorted(folder.glob("*.json")):
            try:
                client.transport.emit(json.loads(path.read_text()))
            except Exception as error:  # noqa: BLE001 - any transport's failure: kept
                return sent, error
            path.unlink()
            sent += 1
    return sent, None


def deliver(client: OpenLineageClient, root: str, env: str, events: Sequence[Any]) -> int:
    """Send `root`'s kept events, oldest first, then `events` (RunEvents) with `client`;
    keep whatever cannot be sent (see the module docstring; nothing is written under the
    root while every event is sent). Returns how many events were sent. Raises EventsKept
    when an event was kept, OSError when the spool cannot be written (the event is then lost,
    and said so)."""
    folder = pending_dir(root, env)
    client = bounded(client)
    sent, failure = _resend(client, folder) if pending(root, env) else (0, None)
    for event in events:
        if failure is None:
            try:
                client.emit(event)
                sent += 1
                continue
            except Exception as error:  # noqa: BLE001 - kept, said below
                failure = error
        folder.mkdir(parents=True, exist_ok=True)
        _keep(folder, Serde.to_json(event))
    if failure is not None:
        raise EventsKept(
            f"openlineage: could not send to {endpoint(client)} ({_why(failure)}); "
            f"{len(pending(root, env))} event(s) kept in {folder}, sent again on a later "
            "delivery")
    return sent
