"""No test writes MLflow's default stores into the project root: `sqlite:///mlflow.db` and
`./mlruns` (and the artifact folders beside them) are relative to the working directory, which
is the project root under `make test`.

`StrayWatch` sees both ways such a store appears: this process opening or creating one (an
audit hook on `sqlite3.connect` and `os.mkdir`, with the project's frames that led there),
and any process (a child, another worker) leaving one (mtime and size before and after each
test).
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
STRAYS = ("mlflow.db", "mlruns", "mlartifacts", "artifacts")
"""MLflow's default stores relative to the working directory: the SQLite tracking store, the
file store, and the artifact roots a SQLite store's experiments default to (`./mlartifacts`,
or `./artifacts/<run id>` with a relative artifact location)."""
VENV = f"{os.sep}.venv{os.sep}"


class StrayWatch:
    """Watches `STRAYS` under `root`; `check()` after each test says what was written."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.seen: list[str] = []
        self.before = self.state()

    def state(self) -> dict[str, tuple[int, int] | None]:
        """(mtime in ns, size) of each stray path, None where it is absent."""
        found: dict[str, tuple[int, int] | None] = {}
        for name in STRAYS:
            try:
                stat = (self.root / name).stat()
                found[name] = (stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                found[name] = None
        return found

    def hook(self, event: str, args: tuple) -> None:
        """A `sys.addaudithook` hook: records opening `mlflow.db` or creating `mlruns/`."""
        if event not in ("sqlite3.connect", "os.mkdir") or not args:
            return
        path = args[0]
        if not isinstance(path, str | bytes | os.PathLike):
            return
        try:
            where = Path(os.path.abspath(os.fsdecode(path)))
        except (TypeError, ValueError):
            return
        if any(where == self.root / name or self.root / name in where.parents
               for name in STRAYS):
            ours = [frame for frame in traceback.extract_stack()[:-1]
                    if frame.filename.startswith(str(PROJECT)) and VENV not in frame.filename]
            self.seen.append(f"{event} {where}\n{''.join(traceback.format_list(ours))}")

    def check(self) -> str | None:
        """What was written since the last check (None: nothing), then starts afresh."""
        seen, now = self.seen, self.state()
        changed = [name for name in STRAYS if now[name] != self.before[name]]
        self.seen, self.before = [], now
        if seen:
            return (f"wrote MLflow's default store into {self.root} (give MLflow a tracking "
                    f"URI under tmp): {seen[0]}")
        if changed:
            return (f"(or a child process, or a test running beside it on another worker) "
                    f"left {', '.join(changed)} in {self.root}: MLflow's default store, "
                    "relative to the working directory; give it a tracking URI under tmp")
        return None
