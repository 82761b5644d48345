"""Which files under the landing root are data, and which are reported instead of read.

The layout is `<landing>/<source>/<YYYY-MM-DD>/<file>`. A file there is data unless its name is
ignored (`_*`, `.*`, `*.tmp`, or a pattern the source declares: markers and files still being
written). Everything else is a `Stray` with the reason it is not read: a file outside the layout,
a symbolic link, a path that resolves outside the landing root, something that is not a regular
file, or a file over `MAX_FILE_BYTES`. Links are never followed and never read.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatch
from pathlib import Path

ALWAYS_IGNORED = ("_*", ".*", "*.tmp")
"""Hidden names, markers such as `_SUCCESS`, and in-progress files (Spark's convention)."""
MAX_FILE_BYTES = 2 * 1024**3
"""A landed file is read whole: larger ones are reported, not read."""
LINK = "symbolic link: links are never followed"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class LandedFile:
    path: Path
    relative: str
    """Path below the landing root: the file's identity in the manifest and in `_source_file`."""
    batch_id: str
    size: int


@dataclass(frozen=True)
class Stray:
    """A path under the landing root that is not ingested, and why."""

    relative: str
    reason: str


@dataclass(frozen=True)
class Survey:
    files: list[LandedFile]
    strays: list[Stray]
    ignored: int


def is_day(name: str) -> bool:
    """`name` is a calendar day written `YYYY-MM-DD` (a landing folder, a partition key)."""
    if not _DAY.fullmatch(name):
        return False
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return True


def last_day(now: datetime | None = None) -> str:
    """The last day folder that is run: tomorrow (UTC) of `now` (default: the clock), a day
    that has begun somewhere east of UTC. A later folder (a typo such as `2062-12-01`) is
    never planned nor ingested: it would stretch the daily partitions up to it; it is
    reported instead (`outside_layout`)."""
    return ((now or datetime.now(UTC)).astimezone(UTC).date() + timedelta(days=1)).isoformat()


def ignored(name: str, patterns: Sequence[str] = ()) -> bool:
    return any(fnmatch(name, p) for p in (*ALWAYS_IGNORED, *patterns))


def landed_batches(landing: str, source: str) -> list[str]:
    """The day folders of `source`, sorted; folders not named as a day are left out."""
    folder = Path(landing) / source
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if is_day(p.name) and _real_dir(p))


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _refusal(entry: os.DirEntry[str], root: Path) -> str | None:
    """Why a directory entry is not read as data (None: it is a regular file to read)."""
    if entry.is_symlink():
        return LINK
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if not Path(entry.path).resolve().is_relative_to(root):
        return "resolves outside the landing root"
    if info.st_size > MAX_FILE_BYTES:
        return f"{info.st_size:,} bytes: larger than the {MAX_FILE_BYTES:,}-byte limit"
    return None


def _walk(path: Path, root: Path, reason: str, patterns: Sequence[str]) -> Iterable[Stray]:
    """Every path at or below `path` (links not followed), as strays for `reason`."""
    if ignored(path.name, patterns):
        return
    if path.is_symlink():
        yield Stray(_relative(path, root), LINK)
        return
    if not path.is_dir():
        yield Stray(_relative(path, root), reason)
        return
    for child in sorted(path.iterdir()):
        yield from _walk(child, root, reason, patterns)


def survey(
    landing: str, source: str, batches: Iterable[str], ignore: Sequence[str] = ()
) -> Survey:
    """The data files of `source` in the day folders `batches`, in a stable order (not read:
    a file is read once, when it is ingested), and the strays found in those folders."""
    root = Path(landing).resolve()
    files, strays, skipped = [], [], 0
    for batch in sorted(set(batches)):
        folder = root / source / batch
        if folder.is_symlink():
            strays.append(Stray(_relative(folder, root), LINK))
            continue
        if not folder.is_dir():
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            path = Path(entry.path)
            if ignored(entry.name, ignore):
                skipped += 1
            elif entry.is_dir(follow_symlinks=False):
                strays.extend(_walk(path, root, f"in a sub-folder of {source}/{batch}/: "
                                    "only files directly in a day folder are read", ignore))
            elif (reason := _refusal(entry, root)) is not None:
                strays.append(Stray(_relative(path, root), reason))
            else:
                files.append(LandedFile(path, _relative(path, root), batch,
                                        entry.stat(follow_symlinks=False).st_size))
    return Survey(files, strays, skipped)


def outside_layout(
    landing: str, source: str, domain_sources: Sequence[str], ignore: Sequence[str] = (),
    first_day: str = "0000-00-00", through: str = "9999-12-31",
) -> list[Stray]:
    """Paths no day folder that is run holds, that `source` answers for: those under
    `<source>/` that are not day folders or are days before `first_day` (the first partition)
    or after `through` (`last_day`), and those at the landing root, beside the declared
    source folders `domain_sources`, whose name is the source's in another case (`Events/`).
    Other paths at the root belong to no source: see `undeclared_folders`."""
    root = Path(landing).resolve()
    if not root.is_dir():
        return []
    folder = root / source
    strays: list[Stray] = []
    if _real_dir(folder):
        for child in sorted(folder.iterdir()):
            if not (is_day(child.name) and _real_dir(child)):
                strays.extend(_walk(child, root, f"not a day folder of {source}/ "
                                    "(expected YYYY-MM-DD)", ignore))
            elif child.name < first_day:
                strays.extend(_walk(child, root, f"a day before the first partition "
                                    f"{first_day}: never run", ignore))
            elif child.name > through:
                strays.extend(_walk(child, root, f"a day after {through} (tomorrow, UTC): "
                                    "not run", ignore))
    elif folder.exists() or folder.is_symlink():
        strays.extend(_walk(folder, root, "the source's folder is not a real folder", ignore))
    for child in sorted(root.iterdir()):
        if child.name not in domain_sources and child.name.lower() == source.lower():
            strays.extend(_walk(child, root, f"not the source folder {source}/ (names are "
                                "case-sensitive)", ignore))
    return strays


def undeclared_folders(landing: str, folders: Collection[str]) -> list[Stray]:
    """The entries at the landing root that are no declared source's folder (`folders`: the
    names of every declared domain's sources), one `Stray` each: a folder (`reading/`) with
    how many files below it are therefore never ingested, or a file. Ignored names (`_*`,
    `.*`, `*.tmp`) are left out; a folder named as a source in another case is included, and
    also reported by that source's `outside_layout`."""
    root = Path(landing).resolve()
    if not root.is_dir():
        return []
    lowered = {name.lower(): name for name in folders}
    found = []
    for child in sorted(root.iterdir()):
        if child.name in folders or ignored(child.name):
            continue
        if child.is_symlink() or not child.is_dir():
            found.append(Stray(child.name, "at the landing root, in no source folder: not "
                                           "ingested"))
            continue
        files = sum(1 for _ in _walk(child, root, "", ()))
        near = lowered.get(child.name.lower())
        found.append(Stray(f"{child.name}/", f"no domain declares it: its {files} file(s) are "
                           "not ingested" + (f" ({near}/ is declared: names are case-sensitive)"
                                             if near else "")))
    return found


def read_landed(file: LandedFile) -> bytes | Stray:
    """The file's bytes, or a `Stray` saying why they cannot be read (a link or something else
    put in its place since it was listed, gone, unreadable). Links are not followed."""
    try:
        fd = os.open(file.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        reason = LINK if os.path.islink(file.path) else f"cannot be opened: {error.strerror}"
        return Stray(file.relative, reason)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Stray(file.relative, "not a regular file")
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            return Stray(file.relative, f"cannot be read: {error.strerror}")
    if len(data) > MAX_FILE_BYTES:
        return Stray(file.relative, f"larger than the {MAX_FILE_BYTES:,}-byte limit")
    return data
