"""Reading and writing table files of MLflow artifact folders (a registered version's files,
a run's artifacts) for an erasure, through MLflow's artifact repositories."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from lakehouse_ml.governance.erasure_files_tables import TABLE_SUFFIXES, without_subject
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.ml.artifacts import WRITTEN_BY_MLFLOW_AT_LOAD, sha256_of_files

MAX_BYTES = 256 * 2**20
"""A larger artifact file is not read (reported instead)."""


@dataclass(frozen=True)
class Folder:
    """An artifact folder of the MLflow store."""

    uri: str
    """The artifact root (a version's download URI, a run's artifact URI)."""
    label: str
    """How its files are named in the places: `models:/<name>/<version>` or `runs:/<id>`."""


@dataclass(frozen=True)
class Rewrite:
    """A table file of a folder without the subject's rows."""

    relative: str
    after: bytes
    rows: int


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(repository: object, path: str | None = None) -> Iterator[tuple[str, int | None]]:
    for info in repository.list_artifacts(path):
        if info.is_dir:
            yield from _files(repository, info.path)
        else:
            yield info.path, info.file_size


def scan(folder: Folder, subject: Subject, skip: tuple[str, ...] = ()
          ) -> tuple[list[Rewrite], list[ErasedPlace]]:
    """The folder's table files that hold the subject, rewritten; files too large to read.
    `skip`: sub-folders left out (versions' own files inside their run's)."""
    repository = get_artifact_repository(folder.uri)
    rewrites, problems = [], []
    with tempfile.TemporaryDirectory() as local:
        for relative, size in _files(repository):
            suffix = PurePosixPath(relative).suffix.lower()
            if (suffix not in TABLE_SUFFIXES or relative in WRITTEN_BY_MLFLOW_AT_LOAD
                    or relative.startswith(tuple(f"{s}/" for s in skip))):
                continue
            if size is not None and size > MAX_BYTES:
                problems.append(ErasedPlace("artifact", f"{folder.label}/{relative}", 0, problem=(
                    f"not checked: {size:,} bytes, over the {MAX_BYTES:,}-byte limit")))
                continue
            data = Path(repository.download_artifacts(relative, local)).read_bytes()
            found = without_subject(data, suffix, subject)
            if found is not None:
                rewrites.append(Rewrite(relative, *found))
    return rewrites, problems


def write(folder: Folder, rewrite: Rewrite) -> None:
    """The new content in place of the old: on a local store renamed over it (atomic), on
    another through MLflow's artifact repository (an object store replaces whole objects)."""
    parsed = urlparse(folder.uri)
    with tempfile.TemporaryDirectory() as local:
        if parsed.scheme in ("", "file"):  # beside the file, then renamed over it
            target = Path(unquote(parsed.path)) / rewrite.relative
            temporary = target.with_name(f".{target.name}.erasure.tmp")
            try:
                temporary.write_bytes(rewrite.after)
                temporary.replace(target)
            finally:
                temporary.unlink(missing_ok=True)
            return
        path = Path(local) / PurePosixPath(rewrite.relative).name
        path.write_bytes(rewrite.after)
        parent = str(PurePosixPath(rewrite.relative).parent)
        get_artifact_repository(folder.uri).log_artifact(str(path),
                                                         None if parent == "." else parent)


def stored_digests(folder: Folder) -> dict[str, str]:
    """Relative path → sha256 of every file of the folder as stored."""
    with tempfile.TemporaryDirectory() as local:
        path = get_artifact_repository(folder.uri).download_artifacts("", local)
        return sha256_of_files(Path(path))
