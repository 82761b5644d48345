"""Moving the champion alias while traffic flows: no request fails, the new version takes over."""

from __future__ import annotations

import threading
import time

import httpx

from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.registry import CHAMPION, use_tracking
from tests.serving.conftest import INVOCATIONS, auth, config, running

SWITCH_SECONDS = 20


def test_champion_move_is_picked_up_without_failed_requests(
    registry_copy: Settings, token: str, customers: list[int]
) -> None:
    body = {"dataframe_records": [{"customer_id": k} for k in customers[:5]]}
    answers: list[tuple[int, list[int], list[float]]] = []
    stop = threading.Event()

    def traffic(client: httpx.Client) -> None:
        while not stop.is_set():
            response = client.post(INVOCATIONS, json=body, headers=auth(token))
            document = response.json()
            answers.append((response.status_code, document.get("model_versions", []),
                            document.get("predictions", [])))

    with running(config(registry_copy, challenger_share=0.0)) as client:
        sender = threading.Thread(target=traffic, args=(client,))
        sender.start()
        try:
            time.sleep(1)
            use_tracking(registry_copy.mlflow_tracking_uri).set_registered_model_alias(
                MODEL.registered_name(registry_copy.env), CHAMPION, "2")
            deadline = time.monotonic() + SWITCH_SECONDS
            while not (answers and answers[-1][1] == [2] * 5) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            sender.join(timeout=30)
        health = client.get("/health").json()["endpoints"]["churn_clf"]

    assert all(status == 200 for status, _, _ in answers), {s for s, _, _ in answers}
    served = [versions for _, versions, _ in answers]
    switch = served.index([2] * 5)
    assert switch > 0 and all(v == [1] * 5 for v in served[:switch]), "version 1 served first"
    assert all(v == [2] * 5 for v in served[switch:]), "once switched, version 2 serves all"
    assert answers[0][2] != answers[-1][2], "the two versions score differently"
    assert health["champion"] == 2
