"""CPU time per request of `lakehouse-ml serve`'s app, in-process: no network, no load generator.

    python -m bench.serving.per_request [--workdir DIR] [--requests 2000]

Drives the ASGI app (the one `lakehouse-ml serve` runs, with its runtime: scoring thread,
batcher, inference log, token check) with one-row key-only requests, one at a time, and divides
the process's CPU time (`time.process_time`: every thread, not the waits for a core) by the
number of requests. So the figure says what a request costs the server whatever else runs on
the machine; the HTTP benchmark (`run.py`) then adds the network, the event loop's wake-ups and
the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from bench.serving.lakehouse import prepare, token
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.mlflow_settings import use_project_defaults
from lakehouse_ml.serving.app import create_app
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.runtime import Runtime

Message = dict[str, Any]
App = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]


async def call(app: App, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One POST through the ASGI app: its status and body."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80),
             "headers": [(k.lower().encode(), v.encode()) for k, v in
                         {**headers, "content-length": str(len(body))}.items()]}
    sent = False
    status, chunks = 0, []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def measure(runtime: Runtime, bodies: list[bytes], headers: dict[str, str],
                  requests: int) -> float:
    """CPU ms per request over `requests` requests (after as many warm-up requests)."""
    app = create_app(runtime)
    path = f"/serving-endpoints/{next(iter(runtime.config.endpoints))}/invocations"
    runtime.start()
    try:
        for phase in ("warm-up", "measured"):
            started = time.process_time()
            for i in range(requests):
                status, answer = await call(app, path, bodies[i % len(bodies)], headers)
                if status != 200:
                    raise RuntimeError(f"{phase} request {i}: {status} {answer[:300]!r}")
            spent = time.process_time() - started
        return spent / requests * 1000
    finally:
        await runtime.stop()


def per_request_ms(settings: Settings, requests: int, customers: list[int]) -> float:
    use_project_defaults()
    headers = {"authorization": f"Bearer {token(settings, 'bench-per-request')}",
               "content-type": "application/json"}
    bodies = [json.dumps({"dataframe_records": [{"customer_id": c}]}).encode()
              for c in customers]
    runtime = Runtime(ServingConfig(settings, {MODEL.name: MODEL}))
    gc.collect()
    gc.freeze()
    with threadpool_limits(limits=1):
        return asyncio.run(measure(runtime, bodies, headers, requests))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lakehouse-serving-bench"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=500)
    args = parser.parse_args(argv)
    settings = prepare(args.workdir, 1000, 100)
    ids = Catalog(settings.root, settings.env).read("silver.customers", columns=["customer_id"])
    customers = random.Random(1).sample(ids["customer_id"].to_list(), args.keys)
    print(f"{per_request_ms(settings, args.requests, customers):.3f} CPU ms per request "
          f"({args.requests} one-row key requests, {args.keys} customers)")


if __name__ == "__main__":
    main()
