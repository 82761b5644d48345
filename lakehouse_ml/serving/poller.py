"""A daemon thread that runs a few refresh functions every `interval` seconds until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


class Poller:
    def __init__(self, interval: float, refreshes: Sequence[Callable[[], None]]) -> None:
        self.interval, self.refreshes = interval, list(refreshes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serving-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for refresh in self.refreshes:
                try:
                    refresh()
                except Exception:  # a failed poll must not stop the next ones
                    log.exception("%s failed; retrying in %ss", refresh, self.interval)
