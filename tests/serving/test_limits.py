"""Limits hold against a hostile client: body size, rows, header and body read time, header
size, connections; and a large request never stalls small ones. Against `lakehouse-ml serve`
in a process of its own, so that its memory is the worker's."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import INVOCATIONS, auth, serve_process, tables_copy

MAX_BODY = 1024 * 1024
MAX_ROWS = 20_000
FLAGS = ["--max-body-bytes", str(MAX_BODY), "--max-rows", str(MAX_ROWS), "--header-seconds",
         "1", "--body-seconds", "1", "--max-header-bytes", "8192", "--max-connections", "8"]
ATTACK_BYTES = 100 * 1024 * 1024
MEMORY_BOUND = 64 * 1024 * 1024
"""What a refused 100 MB body may add to the worker's resident memory, at most."""


class Served:
    def __init__(self, url: str, pid: int, token: str) -> None:
        self.url, self.pid, self.headers = url, pid, auth(token)
        self.port = int(url.rsplit(":", 1)[1])

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def head(self, extra: str = "") -> bytes:
        return (f"POST {INVOCATIONS} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {self.headers['Authorization']}\r\n"
                f"Content-Type: application/json\r\n{extra}\r\n").encode()


@pytest.fixture(scope="module")
def served(lakehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`lakehouse-ml serve` (as churn-serving) on a private copy: it applies its grants."""
    own = tables_copy(lakehouse, tmp_path_factory.mktemp("limits"))
    token = TokenStore(Catalog(own.root, own.env)).create("limits-test")
    with serve_process(own, *FLAGS) as (url, process):
        yield Served(url, process.pid, token)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


class PeakMemory:
    """Samples a process's resident memory every few milliseconds while in use."""

    def __init__(self, pid: int) -> None:
        self.pid, self.before = pid, _rss(pid)
        self.peak, self._stop = self.before, threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss(self.pid))
            time.sleep(0.002)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.before


def _send_until_answered(sock: socket.socket, head: bytes, chunks: Iterator[bytes]) -> bytes:
    """Send the head, then body chunks until the server answers (or all are sent); the
    answer, read to the end (the server closes the connection)."""
    sock.sendall(head)
    sock.settimeout(0.001)
    answer = b""
    for chunk in chunks:
        with contextlib.suppress(TimeoutError):
            answer = sock.recv(65536)
        if answer:
            break
        try:
            sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
    sock.settimeout(10)
    try:
        while part := sock.recv(65536):
            answer += part
    except ConnectionResetError:
        pass
    return answer


def _rows_body(megabytes: int) -> Iterator[bytes]:
    yield b'{"dataframe_records": ['
    row = b'{"customer_id": 1}, ' * 3000  # ~60 kB
    for _ in range(megabytes * 1024 * 1024 // len(row)):
        yield row


def _chunked(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"


def test_oversized_body_is_a_413_and_the_worker_does_not_grow(served: Served) -> None:
    declared = served.head(f"Content-Length: {ATTACK_BYTES}\r\n")
    undeclared = served.head("Transfer-Encoding: chunked\r\n")
    with PeakMemory(served.pid) as memory:
        for head, chunks in ((declared, _rows_body(100)), (undeclared, _chunked(_rows_body(100)))):
            with served.connect() as sock:
                answer = _send_until_answered(sock, head, chunks)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
            assert f"body exceeds the limit of {MAX_BODY} bytes".encode() in answer
    assert memory.growth < MEMORY_BOUND, f"worker grew {memory.growth / 2**20:.0f} MiB"
    with httpx.Client(base_url=served.url, headers=served.headers) as client:
        small = client.post(INVOCATIONS, json={"dataframe_records": [{"customer_id": 1}]})
    assert small.status_code == 200, "the worker serves on after refusing"


def test_more_rows_than_allowed_is_a_400_naming_the_limit(served: Served) -> None:
    body = {"inputs": {"customer_id": [1] * (MAX_ROWS + 1)}}
    response = httpx.post(served.url + INVOCATIONS, json=body, headers=served.headers)
    assert response.status_code == 400
    assert f"{MAX_ROWS + 1} rows exceed the limit of {MAX_ROWS} rows" in response.json()["message"]


def test_a_small_request_is_answered_while_a_large_one_is_scored(
    served: Served, customers: list[int]
) -> None:
    large = {"inputs": {"customer_id": (customers * MAX_ROWS)[:MAX_ROWS]}}
    small = {"dataframe_records": [{"customer_id": customers[0]}]}
    done = threading.Event()
    answers: list[httpx.Response] = []
    took: list[float] = []

    def send_large() -> None:
        began = time.perf_counter()
        answers.append(httpx.post(served.url + INVOCATIONS, json=large, headers=served.headers,
                                  timeout=120))
        took.append(time.perf_counter() - began)
        done.set()

    sender = threading.Thread(target=send_large)
    latencies = []
    with httpx.Client(base_url=served.url, headers=served.headers, timeout=120) as client:
        client.post(INVOCATIONS, json=small)  # connected and warm
        sender.start()
        time.sleep(0.3)  # the large body is sent and being scored
        while not done.is_set():
            began = time.perf_counter()
            assert client.post(INVOCATIONS, json=small).status_code == 200
            if not done.is_set():  # answered while the large one was still being scored
                latencies.append(time.perf_counter() - began)
    sender.join()
    assert answers[0].status_code == 200 and len(answers[0].json()["predictions"]) == MAX_ROWS
    assert len(latencies) >= 3, f"only {len(latencies)} small requests answered meanwhile"
    # a small request waits for about one chunk, not for the large request (machine load
    # slows both alike, so the bound is relative)
    assert sorted(latencies)[len(latencies) // 2] < took[0] / 10, (took, latencies)


def test_slow_headers_slow_body_and_large_headers_are_refused(served: Served) -> None:
    cases = [
        (b"", b"408"),  # connects, sends nothing
        (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"408"),  # headers never end
        (served.head("Content-Length: 100\r\n") + b'{"inputs":', b"408"),  # body never ends
        (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 10_000, b"431"),
    ]
    for sent, status in cases:
        began = time.monotonic()
        with served.connect() as sock:
            sock.sendall(sent)
            answer = b""
            while part := sock.recv(65536):
                answer += part
        assert answer.startswith(b"HTTP/1.1 " + status), (sent[:40], answer[:200])
        assert time.monotonic() - began < 5, "refused within the read time, then closed"


def test_connections_beyond_the_limit_get_503(served: Served) -> None:
    held = [served.connect() for _ in range(8)]
    try:
        with served.connect() as extra:
            answer = extra.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"more than 8 open connections" in answer
    finally:
        for sock in held:
            sock.close()
