"""The HTTP API: Databricks-style invocations per endpoint, and a health check.

`POST /serving-endpoints/<name>/invocations` with `Authorization: Bearer <token>` and
`Content-Type: application/json` answers `{"predictions": [probability per row],
"model_versions": [version per row], "unmatched_lookups": [feature tables that had no row for
the key, per row]}`. Every error, the framework's own included, answers
`{"error_code", "message"}` (Databricks' error shape): 400 (malformed payload, a key repeated
in one JSON object, a non-finite feature, too many rows), 401 (no valid token, or tokens
cannot be checked), 403 (the token's principal lacks `EXECUTE` on the endpoint's registered
model), 404 (unknown endpoint or path; a trailing slash is not redirected), 405
(method), 408 (body too slow), 413 (body too large), 415 (Content-Type missing or not JSON in
UTF-8, as MLflow's scoring server), 422 (unknown keys, when refused) or 500 (a generic
message; the details go to the server log under the request id). `GET /health` needs no
token and reports the versions each endpoint serves, the inference logs' buffers and whether
tokens can be checked. Every invocation, whatever its answer, leaves one record in the audit
log (`governance.audit_log`, see `authorization`) and one row in the inference log.
Bodies are read and written as raw JSON: the payload formats are parsed by `payload`, not by
pydantic, which keeps validation messages specific and the hot path short; bodies above
`parse_inline_bytes` are parsed on a thread of their own, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from lakehouse_ml.serving import payload
from lakehouse_ml.serving.authorization import LOGIN, QUERY, denial_message
from lakehouse_ml.serving.config import Limits, UnknownKeys
from lakehouse_ml.serving.deployment import Deployment
from lakehouse_ml.serving.payload import PayloadError, shown
from lakehouse_ml.serving.protocol import REFUSED
from lakehouse_ml.serving.redact import Redactor
from lakehouse_ml.serving.request import Request as Rows
from lakehouse_ml.serving.runtime import Runtime
from lakehouse_ml.serving.scorer import Scored
from lakehouse_ml.serving.tokens import Caller

log = logging.getLogger(__name__)

_ERROR_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "ENDPOINT_NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT", 413: "REQUEST_TOO_LARGE",
                415: "UNSUPPORTED_MEDIA_TYPE", 422: "UNKNOWN_KEYS", 500: "INTERNAL_ERROR"}
"""Error codes by status; any other status answers its HTTP name (e.g. `NOT_ACCEPTABLE`)."""
_NAMED_ROWS = 10
"""Unknown keys named in a 422 message, at most."""
MAX_ENDPOINT_CHARS = 255
"""An endpoint name (a model name) is at most 255 characters, as Unity Catalog names are; a
longer path segment is logged and echoed cut to this length plus `…`."""
JSON = "application/json"


class Refused(Exception):
    """A request answered with an error before it is scored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _json(status: int, document: object, **headers: str) -> Response:
    return Response(json.dumps(document), status, headers, media_type=JSON)


def _error(status: int, message: str) -> dict[str, str]:
    return {"error_code": _ERROR_CODES.get(status) or HTTPStatus(status).name,
            "message": message}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ENDPOINT_CHARS else text[:MAX_ENDPOINT_CHARS] + "…"


def unsupported_media_type(content_type: str | None) -> str | None:
    """Why a body with this Content-Type header is refused (415), or None for JSON in UTF-8
    (`application/json`, optionally `; charset=utf-8`; any case)."""
    if not content_type:
        return f"Content-Type is missing: send the body as {JSON}"
    media, *parameters = content_type.split(";")
    if media.strip().lower() != JSON:
        return f"Content-Type {shown(content_type)} is not supported: send the body as {JSON}"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip(' "').lower() not in ("utf-8",
                                                                                  "utf8"):
            return (f"Content-Type parameter {shown(parameter.strip())} is not supported: "
                    f"send the body as {JSON} in UTF-8 (charset=utf-8)")
    return None


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def read_body(request: Request, limits: Limits) -> bytes:
    """The whole body, or `Refused`: 413 above `max_body_bytes` (on Content-Length, before
    reading, or once that much arrived), 408 if it takes longer than `body_seconds`."""
    declared = request.headers.get("content-length", "")
    too_large = f"body exceeds the limit of {limits.max_body_bytes} bytes"
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise Refused(413, f"{too_large} (Content-Length {declared})")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(limits.body_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_body_bytes:
                    raise Refused(413, too_large)
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(408, f"body not received within {limits.body_seconds:g} s") from None
    except ClientDisconnect:
        if REFUSED in request.scope:  # the protocol answered (408) and closed the connection
            raise Refused(*request.scope[REFUSED]) from None
        raise Refused(400, "the client closed the connection before sending the body") from None
    return b"".join(chunks)


@dataclass(frozen=True)
class Parsed:
    rows: Rows | None
    problem: PayloadError | None
    stored: str
    """What the inference log keeps of the body."""


def parse(deployment: Deployment, redactor: Redactor, body: bytes, max_rows: int) -> Parsed:
    try:
        document = payload.load(body, payload.max_values(max_rows, deployment.request.width))
    except PayloadError as problem:
        return Parsed(None, problem, redactor.unparsed(body))
    stored = redactor.document(document, body)
    try:
        return Parsed(deployment.request.parse(payload.columns(document, max_rows)), None,
                      stored)
    except PayloadError as problem:
        return Parsed(None, problem, stored)


def unknown_keys(rows: Rows, scored: Scored) -> str:
    """The 422 message: which keys no feature row was found for, and where."""
    missing = scored.unmatched_rows
    named = [", ".join(f"{k}={shown(rows.columns[k][row])}" for k in rows.columns)
             + f" (row {row}): no row in {', '.join(scored.unmatched[row])}"
             for row in missing[:_NAMED_ROWS]]
    more = f"; and {len(missing) - _NAMED_ROWS} more rows" if len(missing) > _NAMED_ROWS else ""
    return "unknown keys: " + "; ".join(named) + more


def create_app(runtime: Runtime) -> FastAPI:
    """The API over a runtime built beforehand (models loaded, so a server that cannot serve
    fails before it listens); the lifespan starts it and, at shutdown, stops it."""
    limits = runtime.config.limits

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="lakehouse_ml serving", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None, redirect_slashes=False)

    @app.exception_handler(HTTPException)
    async def framework_error(request: Request, error: HTTPException) -> Response:
        """The router's own answers (unknown path, wrong method) in the project's shape."""
        where = f"{request.method} {_cut(request.url.path)}"
        message = {404: f"no API found for {where!r}",
                   405: f"method not allowed: {where!r} takes "
                        f"{(error.headers or {}).get('Allow', 'other methods')}",
                   }.get(error.status_code, str(error.detail))
        return _json(error.status_code, _error(error.status_code, message),
                     **(error.headers or {}))

    @app.get("/health")
    async def health() -> Response:
        endpoints = {e: runtime.deployments.get(e).describe()
                     for e in runtime.deployments.endpoints}
        logs = [log.describe() for log in set(runtime.logs.values())]
        tokens = runtime.tokens.unavailable
        degraded = tokens is not None or any(log["shed_rows"] for log in logs)
        return _json(200, {"status": "degraded" if degraded else "ok", "endpoints": endpoints,
                           "tokens": tokens or "ok", "inference_logs": logs})

    @app.post("/serving-endpoints/{endpoint}/invocations")
    async def invocations(endpoint: str, request: Request) -> Response:
        started, requested_at = time.perf_counter(), datetime.now(UTC)
        endpoint = _cut(endpoint)  # not a name if longer: never stored or echoed whole
        request_id = os.urandom(16).hex()  # 32 hex digits; a UUID object costs more
        scored, rows, stored = None, None, None
        caller: Caller | None = None

        def answer(status: int, document: object, error: str | None = None, **headers: str
                   ) -> Response:
            text = json.dumps(document)
            params = {"endpoint": endpoint, "request_id": request_id}
            if scored is not None:
                params["model_versions"] = ",".join(map(str, sorted(set(scored.versions))))
            runtime.access.record(
                caller and caller.principal, QUERY if caller else LOGIN, status, params,
                error or (document.get("message") if isinstance(document, dict) else None))
            inference_log = runtime.logs.get(endpoint) or next(iter(runtime.logs.values()))
            inference_log.record(
                request_id=request_id, endpoint=endpoint, requested_at=requested_at,
                status_code=status, latency_ms=(time.perf_counter() - started) * 1000,
                caller=caller and caller.name, rows=len(scored.versions) if scored else 0,
                as_of=scored.as_of if scored else None,
                model_versions=scored.versions if scored else None, request=stored,
                response=runtime.redactor.cap(text, text.encode()),
                unmatched_rows=scored.unmatched_rows if scored else None,
            )
            return Response(text, status, {"x-request-id": request_id, **headers},
                            media_type=JSON)

        token = _bearer(request)
        caller = runtime.tokens.authenticate(token)
        if caller is None:
            why = runtime.tokens.unavailable or (
                "no token given" if not token else "unknown or revoked token")
            log.info("401 on %s from %s: %s", endpoint, request.client, why)
            message = ("tokens cannot be checked right now: retry later"
                       if runtime.tokens.unavailable else "a valid bearer token is required")
            return answer(401, _error(401, message), why, **{"www-authenticate": "Bearer"})
        deployment = runtime.deployments.get(endpoint)
        if deployment is None:
            return answer(404, _error(404, f"no serving endpoint {endpoint!r}; endpoints: "
                                           f"{runtime.deployments.endpoints}"))
        model = deployment.champion.name
        denied = runtime.access.check(caller.principal, model)
        if denied is not None:
            return answer(403, _error(403, denial_message(denied, model)), str(denied))
        try:
            media_type = unsupported_media_type(request.headers.get("content-type"))
            if media_type is not None:
                raise Refused(415, media_type)
            body = await read_body(request, limits)
            work = (runtime.redactor, body, limits.max_rows)
            parsed = (parse(deployment, *work) if len(body) <= limits.parse_inline_bytes else
                      await asyncio.get_running_loop().run_in_executor(
                          runtime.parser, parse, deployment, *work))
            stored = parsed.stored
            if parsed.problem is not None:
                raise Refused(400, str(parsed.problem))
            rows = parsed.rows
            scored = await runtime.submit(endpoint, rows)
        except Refused as refused:
            close = {"connection": "close"} if refused.status in (408, 413) else {}
            return answer(refused.status, _error(refused.status, refused.message), **close)
        except Exception:
            log.exception("endpoint %s failed on request %s", endpoint, request_id)
            return answer(500, _error(500, f"internal error (request id {request_id}): the "
                                           "server log has the details"))
        if scored.unmatched_rows and runtime.config.unknown_keys == UnknownKeys.REFUSE:
            return answer(422, _error(422, unknown_keys(rows, scored)))
        return answer(200, {"predictions": scored.probabilities,
                            "model_versions": scored.versions,
                            "unmatched_lookups": scored.unmatched})

    return app
