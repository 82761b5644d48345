"""The HTTP API: Databricks-style invocations per endpoint, and a health check.

`POST /serving-endpoints/<name>/invocations` with `Authorization: Bearer <token>` answers
`{"predictions": [probability per row], "model_versions": [version per row]}`; errors answer
`{"error_code", "message"}` with 400 (malformed payload), 401 (no valid token), 404 (unknown
endpoint) or 500. `GET /health` needs no token and reports the versions each endpoint serves.
Bodies are read and written as raw JSON: the payload formats are parsed by `payload`, not by
pydantic, which keeps validation messages specific and the hot path short.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import Response

from lakehouse_ml.serving.payload import PayloadError, parse
from lakehouse_ml.serving.runtime import Runtime

log = logging.getLogger(__name__)

_ERROR_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 404: "ENDPOINT_NOT_FOUND",
                500: "INTERNAL_ERROR"}


def _json(status: int, document: object, **headers: str) -> Response:
    return Response(json.dumps(document), status, headers, media_type="application/json")


def _error(status: int, message: str) -> dict[str, str]:
    return {"error_code": _ERROR_CODES[status], "message": message}


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def create_app(runtime: Runtime) -> FastAPI:
    """The API over a runtime built beforehand (models loaded, so a server that cannot serve
    fails before it listens); the lifespan starts it and, at shutdown, stops it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="lakehouse_ml serving", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def health() -> Response:
        endpoints = {e: runtime.deployments.get(e).describe()
                     for e in runtime.deployments.endpoints}
        return _json(200, {"status": "ok", "endpoints": endpoints})

    @app.post("/serving-endpoints/{endpoint}/invocations")
    async def invocations(endpoint: str, request: Request) -> Response:
        started, requested_at = time.perf_counter(), datetime.now(UTC)
        caller = runtime.tokens.verify(_bearer(request))
        if caller is None:
            return _json(401, _error(401, "a valid bearer token is required"),
                         **{"www-authenticate": "Bearer"})
        deployment = runtime.deployments.get(endpoint)
        if deployment is None:
            return _json(404, _error(404, f"no serving endpoint {endpoint!r}; endpoints: "
                                          f"{runtime.deployments.endpoints}"))
        body = await request.body()
        scored = None
        try:
            scored = await runtime.submit(endpoint, deployment.request.parse(parse(body)))
            status = 200
            answer = {"predictions": scored.probabilities, "model_versions": scored.versions}
        except PayloadError as problem:
            status, answer = 400, _error(400, str(problem))
        except Exception as failure:
            log.exception("endpoint %s failed", endpoint)
            status, answer = 500, _error(500, f"{type(failure).__name__}: {failure}")
        response = json.dumps(answer)
        request_id = uuid.uuid4().hex
        runtime.logs[endpoint].record(
            request_id=request_id, endpoint=endpoint, requested_at=requested_at,
            status_code=status, latency_ms=(time.perf_counter() - started) * 1000,
            caller=caller, rows=len(scored.versions) if scored else 0,
            as_of=scored.as_of if scored else None,
            model_versions=scored.versions if scored else None,
            request=body.decode("utf-8", "replace"), response=response,
        )
        return Response(response, status, {"x-request-id": request_id},
                        media_type="application/json")

    return app
