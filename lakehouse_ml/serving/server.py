"""Run the endpoint under uvicorn: one worker, uvloop and httptools (with the header and
connection limits of `protocol`), no access log.

One worker because a worker holds its own models and dynamic batches; SIGINT/SIGTERM stop it
gracefully (in-flight requests finish, then the lifespan shutdown writes the buffered log).
"""

from __future__ import annotations

import socket

import uvicorn

from lakehouse_ml.ml.mlflow_settings import use_project_defaults
from lakehouse_ml.serving.app import create_app
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.limits import Limits
from lakehouse_ml.serving.protocol import limited_protocol
from lakehouse_ml.serving.runtime import Runtime


def uvicorn_server(config: ServingConfig, host: str, port: int) -> uvicorn.Server:
    """Loads the models (raises `NoChampion` if an endpoint has nothing to serve)."""
    use_project_defaults()  # no telemetry, no progress bars on stderr; no environment write
    return uvicorn.Server(uvicorn_config(create_app(Runtime(config)), config.limits, host, port))


def uvicorn_config(app: object, limits: Limits, host: str, port: int) -> uvicorn.Config:
    """One worker over HTTP/1.1 held to `limits`; websockets off (`ws="none"`), so an
    `Upgrade: websocket` request is answered as plain HTTP and no connection leaves the limits'
    protocol."""
    return uvicorn.Config(app, host=host, port=port, workers=1, access_log=False,
                          log_level="warning", http=limited_protocol(limits), ws="none")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port` and listening, for `uvicorn.Server.run(sockets=)`:
    bound before the models load, so that a port in use or an address this machine does not
    have fails at once. Raises `OSError` (`socket.gaierror` for a host that does not resolve)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's own bind
        sock.bind(address)
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock
