"""Erasure from MLflow artifacts that hold rows: the files of every registered version of the
environment's models (input examples) and of the runs that logged them (tables logged with
the run), rewritten without the subject's rows (`erasure_files_tables`).

A version's `artifact_sha256` tag is re-recorded for the rewritten files only, after checking
every other stored file still matches it (`ml.artifacts.rerecord_digests`), so the version
still loads verified and tampering is still caught. Kill safety: before the first write the
new digests are put in the version's `erasure_pending_sha256` tag; it is removed once the
digest tag is updated. A run killed in between leaves the tag, and the next erasure records
the files that were already rewritten (those holding the pending content) before going on.
Local artifact stores are written by renaming a temporary file over the old one (atomic);
other stores through MLflow's artifact repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from lakehouse_ml.governance.erasure_files_tables import TABLE_SUFFIXES, without_subject
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.ml.artifacts import (
    DIGEST_TAG,
    WRITTEN_BY_MLFLOW_AT_LOAD,
    ModelArtifactError,
    rerecord_digests,
    sha256_of_files,
)

PENDING_TAG = "erasure_pending_sha256"
MAX_BYTES = 256 * 2**20
"""A larger artifact file is not read (reported instead)."""


@dataclass(frozen=True)
class _Folder:
    uri: str
    """The artifact root (a version's download URI, a run's artifact URI)."""
    label: str
    """How its files are named in the places: `models:/<name>/<version>` or `runs:/<id>`."""


@dataclass(frozen=True)
class _Rewrite:
    relative: str
    after: bytes
    rows: int


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(repository: object, path: str | None = None) -> Iterator[tuple[str, int | None]]:
    for info in repository.list_artifacts(path):
        if info.is_dir:
            yield from _files(repository, info.path)
        else:
            yield info.path, info.file_size


def _scan(folder: _Folder, subject: Subject, skip: str | None = None
          ) -> tuple[list[_Rewrite], list[ErasedPlace]]:
    """The folder's table files that hold the subject, rewritten; files too large to read.
    `skip`: a sub-folder left out (a version's own files inside its run's)."""
    repository = get_artifact_repository(folder.uri)
    rewrites, problems = [], []
    with tempfile.TemporaryDirectory() as local:
        for relative, size in _files(repository):
            suffix = PurePosixPath(relative).suffix.lower()
            if (suffix not in TABLE_SUFFIXES or relative in WRITTEN_BY_MLFLOW_AT_LOAD
                    or (skip is not None and relative.startswith(f"{skip}/"))):
                continue
            if size is not None and size > MAX_BYTES:
                problems.append(ErasedPlace("artifact", f"{folder.label}/{relative}", 0, problem=(
                    f"not checked: {size:,} bytes, over the {MAX_BYTES:,}-byte limit")))
                continue
            data = Path(repository.download_artifacts(relative, local)).read_bytes()
            found = without_subject(data, suffix, subject)
            if found is not None:
                rewrites.append(_Rewrite(relative, *found))
    return rewrites, problems


def _write(folder: _Folder, rewrite: _Rewrite) -> None:
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


def _stored_digests(folder: _Folder) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as local:
        path = get_artifact_repository(folder.uri).download_artifacts("", local)
        return sha256_of_files(Path(path))


def _repair(client: MlflowClient, version: ModelVersion, folder: _Folder,
            dry_run: bool) -> ErasedPlace | None:
    """Finish an erasure killed between rewriting a version's files and recording them."""
    pending_text = version.tags.get(PENDING_TAG)
    if pending_text is None:
        return None
    if dry_run:
        return ErasedPlace("artifact", folder.label, 0, problem="an earlier erasure was "
                           "interrupted: the next forget records the rewritten files' digests")
    try:
        pending = json.loads(pending_text)
        found = _stored_digests(folder)
        done = {f: d for f, d in pending.items() if found.get(f) == d}
        rerecord_digests(client, version.name, int(version.version), done)
        problem = f"an earlier erasure was interrupted: digests of {sorted(done)} recorded now"
    except (ValueError, AttributeError, ModelArtifactError) as error:
        problem = f"an earlier erasure was interrupted and cannot be finished: {error}"
    client.delete_model_version_tag(version.name, version.version, PENDING_TAG)
    return ErasedPlace("artifact", folder.label, 0, problem=problem)


def _erase_version(client: MlflowClient, version: ModelVersion, folder: _Folder,
                   rewrites: list[_Rewrite]) -> None:
    digests = {r.relative: _sha256(r.after) for r in rewrites}
    signed = DIGEST_TAG in version.tags
    if signed:
        client.set_model_version_tag(version.name, version.version, PENDING_TAG,
                                     json.dumps(digests, sort_keys=True))
    for rewrite in rewrites:
        _write(folder, rewrite)
    if signed:
        rerecord_digests(client, version.name, int(version.version), digests)
        client.delete_model_version_tag(version.name, version.version, PENDING_TAG)


def _versions(client: MlflowClient, env: str) -> Iterator[ModelVersion]:
    """Every version of every registered model of the environment (`<env>.<schema>.<name>`)."""
    token = None
    while True:
        page = client.search_model_versions(f"name LIKE '{env}.%'", page_token=token)
        for version in page:
            if version.name.startswith(f"{env}."):
                yield client.get_model_version(version.name, version.version)  # with tags
        token = page.token
        if not token:
            return


def _client(lakehouse_root: Path) -> MlflowClient | None:
    """MLflow's tracking URI when set, else the lakehouse's own store beside its root (None
    when that store does not exist: no model was ever registered there)."""
    if mlflow.tracking.is_tracking_uri_set() or os.environ.get("MLFLOW_TRACKING_URI"):
        return MlflowClient()
    store = Path(lakehouse_root).resolve().parent / "mlflow" / "mlflow.db"
    return MlflowClient(f"sqlite:///{store}", f"sqlite:///{store}") if store.is_file() else None


def erase_model_artifacts(lakehouse_root: Path, env: str, subject: Subject, *, dry_run: bool
                          ) -> list[ErasedPlace]:
    """Remove the subject's rows from the artifact files of every registered version of
    `env`'s models (MLflow's tracking URI when set, else the lakehouse's own store) and of the
    runs that logged them, re-recording each rewritten version's `artifact_sha256`.

    Returns one `ErasedPlace` per file holding the subject (kind "artifact", name
    `models:/<model>/<version>/<file>` or `runs:/<run id>/<file>`, rows dropped, the new
    file's size — 0 in a dry run), and places with a `problem` (rows 0) for files too large to
    check and interrupted erasures. Versions and runs without the subject are not written.
    The dry run writes nothing. `lakehouse_root` is where the default store lives (beside it).
    Raises ModelArtifactError when a version's other files no longer match their digests."""
    client = _client(lakehouse_root)
    places: list[ErasedPlace] = []
    if client is None:
        return places
    runs: set[str] = set()
    for version in _versions(client, env):
        folder = _Folder(client.get_model_version_download_uri(version.name, version.version),
                         f"models:/{version.name}/{version.version}")
        repaired = _repair(client, version, folder, dry_run)
        if repaired is not None:
            places.append(repaired)
            version = client.get_model_version(version.name, version.version)
        folders: list[tuple[_Folder, ModelVersion | None, str | None]] = [
            (folder, version, None)]
        if version.run_id and version.run_id not in runs:
            runs.add(version.run_id)
            try:
                uri = client.get_run(version.run_id).info.artifact_uri.rstrip("/")
            except MlflowException:
                uri = None  # the run was deleted: nothing of it to erase
            if uri is not None:
                inside = folder.uri.removeprefix(f"{uri}/") if folder.uri.startswith(
                    f"{uri}/") else None  # a version stored in its run's folder
                folders.append((_Folder(uri, f"runs:/{version.run_id}"), None, inside))
        for where, signed, skip in folders:
            rewrites, problems = _scan(where, subject, skip)
            places.extend(problems)
            places.extend(ErasedPlace("artifact", f"{where.label}/{r.relative}", r.rows,
                                      0 if dry_run else len(r.after)) for r in rewrites)
            if rewrites and not dry_run:
                if signed is not None:
                    _erase_version(client, signed, where, rewrites)
                else:
                    for rewrite in rewrites:
                        _write(where, rewrite)
    return places
