"""What a running server holds: deployments, tokens, model access checks, inference logs and
the scoring thread.

Built at startup (models loaded, tables created) and closed at shutdown, when the inference
logs write what they still buffer. The server acts as `config.principal` (`serve --domain`:
the domain's serving principal, `serving.identity`), else the current principal
(`$LAKEHOUSE_PRINCIPAL`, else the OS user): loading a model version needs `EXECUTE` on it.
"""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial

from threadpoolctl import threadpool_limits

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.serving.authorization import ModelAccess
from lakehouse_ml.serving.batcher import Batcher
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.deployment import Deployments
from lakehouse_ml.serving.inference_log import InferenceLog, table_name
from lakehouse_ml.serving.poller import Poller
from lakehouse_ml.serving.redact import Redactor
from lakehouse_ml.serving.request import Request
from lakehouse_ml.serving.scorer import Scored, score_each
from lakehouse_ml.serving.tokens import TokenStore, TokenVerifier


def _one_math_thread() -> None:
    """Scoring thread: a few rows per call gain nothing from OpenMP threads, and on a busy
    machine their spin-waits cost more than the prediction itself (measured 100x)."""
    threadpool_limits(limits=1)


class Runtime:
    def __init__(self, config: ServingConfig) -> None:
        settings = config.settings
        catalog = Catalog(settings.root, settings.env, principal=config.principal)
        self.features = FeatureEngineeringClient(catalog)
        self.principal = catalog.principal
        self.access = ModelAccess(settings.root, settings.env)
        self.deployments = Deployments(
            self.features, use_tracking(settings.mlflow_tracking_uri), config.endpoints,
            config.challenger_share, partial(self.access.require, self.principal),
        )
        self.deployments.refresh()
        self.config = config
        self.tokens = TokenVerifier(TokenStore(catalog),
                                    max_age_seconds=3 * config.poll_seconds + 30)
        by_table = {
            table_name(spec.schema): InferenceLog(
                catalog, table_name(spec.schema), spec.owner, config.log_flush_rows,
                config.log_flush_seconds, config.log_buffer_bytes,
                {e: s.registered_name(settings.env) for e, s in config.endpoints.items()},
            )
            for spec in config.endpoints.values()
        }
        self.logs = {e: by_table[table_name(s.schema)] for e, s in config.endpoints.items()}
        self.redactor = Redactor(
            {c for t in catalog.tables() for c in t.info.pii_columns()}, config.log_body_bytes)
        self._executor = ThreadPoolExecutor(1, "scoring", initializer=_one_math_thread)
        self.parser = ThreadPoolExecutor(1, "parsing")
        """Parses large bodies, off the event loop and off the scoring thread."""
        self._batchers: dict[str, Batcher[Request, Scored]] = {}
        self._poller = Poller(config.poll_seconds, [self.deployments.refresh, self.tokens.refresh,
                                                    self.access.refresh])

    def _score(self, endpoint: str, requests: list[Request]) -> list[Scored | Exception]:
        deployment = self.deployments.get(endpoint)
        assert deployment is not None  # endpoints are checked before requests are queued
        return score_each(deployment, requests)

    def start(self) -> None:
        """Start scoring and polling (call from the event loop).

        Everything loaded so far (libraries, models: ~400k objects) is moved out of the
        garbage collector's sight first: a full collection over it stalls every request for
        ~200 ms (p99 at 500 requests/s fell from 100 ms to 7 ms). The price: reference cycles
        among those objects, e.g. in a model replaced later, are never reclaimed."""
        gc.collect()
        gc.freeze()
        for endpoint in self.deployments.endpoints:
            batcher = Batcher(partial(self._score, endpoint), self._executor,
                              lambda r: r.rows, self.config.max_batch_rows)
            batcher.start()
            self._batchers[endpoint] = batcher
        self._poller.start()

    async def submit(self, endpoint: str, request: Request) -> Scored:
        """Score a request; one above `limits.chunk_rows` rows in chunks that take turns with
        other requests, all looked up as of now."""
        chunks = request.chunks(self.config.limits.chunk_rows, datetime.now(UTC))
        return Scored.concat(await self._batchers[endpoint].submit(chunks))

    async def stop(self) -> None:
        """After the last request: stop polling and scoring, write the buffered inference
        log rows, then the buffered audit records."""
        self._poller.stop()
        for batcher in self._batchers.values():
            await batcher.stop()
        self._executor.shutdown()
        self.parser.shutdown()
        for log in set(self.logs.values()):
            log.close()
        self.access.flush()  # the audit records of everything above
        self.features.online_store.close()
