"""Durable governance state: principals, securables, grants, as versioned JSON snapshots.

Stored beside the table documents (`<root>/_metastore/<version>.json`, zero-padded), each
version the whole state. A change reads the latest version N, applies itself and creates
N+1 with an exclusive create (`os.link`, which fails if the file exists): of two concurrent
writers one wins, the other re-reads and re-applies its change, so no update is lost. A
reader never sees half a document (the version file is complete before it is linked). Local
roots only (`file://` or a path); an object store needs conditional puts (not yet).
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

State = dict[str, Any]
T = TypeVar("T")
_WIDTH = 12
MAX_STATE_BYTES = 64 * 1024 * 1024
RETRIES = 50


class ConcurrentUpdate(RuntimeError):
    """The state changed under a writer more than RETRIES times in a row."""


def empty_state(admin: str) -> State:
    return {"admins": [admin], "principals": {}, "securables": {}, "grants": []}


class Store:
    """Versioned snapshots under `<root>/_metastore/`; `read()` is the latest state."""

    def __init__(self, root: str, default_admin: str) -> None:
        local = root.removeprefix("file://")
        if "://" in local:
            raise ValueError(f"governance state needs a local lakehouse root, got {root!r}")
        self.dir = Path(local) / "_metastore"
        self.default_admin = default_admin
        self._cached: tuple[int, State] | None = None
        self._known = 0

    def version(self) -> int:
        """The latest committed version (0: nothing committed yet). From the version this
        store last saw while its file is there, the next ones are probed one `stat` each
        (versions are committed one after another); else the folder is listed. Listing every
        time cost each read a pass over the whole history (a version per change: ~55 a
        daily refresh), growing with the lakehouse's age."""
        known = self._known
        if known and self.path(known).exists():
            while self.moved_past(known):
                known += 1
        else:  # first call, or the history was removed (a wiped lakehouse): start afresh
            self._cached = None
            known = max((int(p.stem) for p in self.dir.glob("*.json") if p.stem.isdigit()),
                        default=0) if self.dir.is_dir() else 0
        self._known = known
        return known

    def path(self, version: int) -> Path:
        """The file holding `version` (it may not exist)."""
        return self.dir / f"{version:0{_WIDTH}d}.json"

    def moved_past(self, version: int) -> bool:
        """Whether a version after `version` was committed: one `stat` (versions are
        committed one after another), the cheap test a cache of the state is kept by."""
        return self.path(version + 1).exists()

    def read(self) -> State:
        """The latest state; shared between callers (a version file never changes), so do
        not mutate it: `update` works on a copy."""
        version = self.version()
        if version == 0:
            return empty_state(self.default_admin)
        if self._cached is not None and self._cached[0] == version:
            return self._cached[1]
        path = self.path(version)
        if path.stat().st_size > MAX_STATE_BYTES:
            raise ValueError(f"governance state {path} is larger than {MAX_STATE_BYTES} bytes")
        state = json.loads(path.read_text())
        self._cached = (version, state)
        return state

    def update(self, change: Callable[[State], T]) -> T:
        """`commit(change)`'s result, without saying whether it committed."""
        return self.commit(change)[0]

    def commit(self, change: Callable[[State], T]) -> tuple[T, bool]:
        """Apply `change` (which mutates the state it gets and returns a result) to the
        latest state and commit it as the next version; retried on a concurrent commit.
        Returns the result and whether a version was committed: a change that leaves the
        state equal to what it was commits nothing (False), nor does one that raises."""
        for _ in range(RETRIES):
            version = self.version()
            before = self.read()
            state = copy.deepcopy(before)
            result = change(state)
            if state == before:
                return result, False
            self.dir.mkdir(parents=True, exist_ok=True)
            staging = self.dir / f".{uuid.uuid4().hex}.tmp"
            staging.write_text(json.dumps(state, indent=1, sort_keys=True))
            try:
                os.link(staging, self.path(version + 1))
            except FileExistsError:
                continue
            finally:
                staging.unlink()
            self._known = max(self._known, version + 1)
            return result, True
        raise ConcurrentUpdate(f"governance state under {self.dir} kept changing; "
                               f"gave up after {RETRIES} attempts")
