"""Erasure from MLflow artifacts that hold rows: the files of every registered version of the
environment's models (input examples) and the artifacts of the runs of the environment's
experiments (`/<env>/...`) and of the runs that registered those versions (tables logged with
the run), rewritten without the subject's rows (`erasure_files_tables`).

A version's `artifact_sha256` tag is re-recorded for the rewritten files only, after checking
every other stored file still matches it (`ml.artifacts.rerecord_digests`), so the version
still loads verified and tampering is still caught. Kill safety: before the first write the
new digests are put in the version's `erasure_pending_sha256` tag; it is removed once the
digest tag is updated. A run killed in between leaves the tag, and the next erasure records
the files that were already rewritten (those holding the pending content) before going on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from lakehouse_ml.governance.erasure_files_store import (
    Folder,
    Rewrite,
    scan,
    sha256,
    stored_digests,
    write,
)
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.ml.artifacts import DIGEST_TAG, ModelArtifactError, rerecord_digests

PENDING_TAG = "erasure_pending_sha256"


def _repair(client: MlflowClient, version: ModelVersion, folder: Folder,
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
        found = stored_digests(folder)
        done = {f: d for f, d in pending.items() if found.get(f) == d}
        rerecord_digests(client, version.name, int(version.version), done)
        problem = f"an earlier erasure was interrupted: digests of {sorted(done)} recorded now"
    except (ValueError, AttributeError, ModelArtifactError) as error:
        problem = f"an earlier erasure was interrupted and cannot be finished: {error}"
    client.delete_model_version_tag(version.name, version.version, PENDING_TAG)
    return ErasedPlace("artifact", folder.label, 0, problem=problem)


def _erase_version(client: MlflowClient, version: ModelVersion, folder: Folder,
                   rewrites: list[Rewrite]) -> str | None:
    """Rewrite a version's files and re-record their digests; the problem when the version's
    other files no longer match theirs (the subject is erased all the same; the version keeps
    refusing to load, as it did)."""
    digests = {r.relative: sha256(r.after) for r in rewrites}
    signed = DIGEST_TAG in version.tags
    if signed:
        client.set_model_version_tag(version.name, version.version, PENDING_TAG,
                                     json.dumps(digests, sort_keys=True))
    for rewrite in rewrites:
        write(folder, rewrite)
    if not signed:
        return None
    try:
        rerecord_digests(client, version.name, int(version.version), digests)
        problem = None
    except ModelArtifactError as error:
        problem = f"erased, but its digests were not re-recorded: {error}"
    client.delete_model_version_tag(version.name, version.version, PENDING_TAG)
    return problem


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


def _experiment_runs(client: MlflowClient, env: str) -> Iterator[str]:
    """The run ids of the environment's experiments (`/<env>/...`)."""
    ids = [e.experiment_id for e in client.search_experiments(
        filter_string=f"name LIKE '/{env}/%'", max_results=1000)
        if e.name.startswith(f"/{env}/")]
    token = None
    while ids:
        page = client.search_runs(ids, page_token=token, max_results=1000)
        yield from (run.info.run_id for run in page)
        token = page.token
        if not token:
            return


def _run_folder(client: MlflowClient, run_id: str) -> Folder | None:
    try:
        uri = client.get_run(run_id).info.artifact_uri.rstrip("/")
    except MlflowException:
        return None  # the run was deleted: nothing of it to erase
    return Folder(uri, f"runs:/{run_id}")


def _client(lakehouse_root: Path) -> MlflowClient | None:
    """MLflow's tracking URI when set, else the lakehouse's own store beside its root (None
    when that store does not exist: no model was ever registered there)."""
    if mlflow.tracking.is_tracking_uri_set() or os.environ.get("MLFLOW_TRACKING_URI"):
        return MlflowClient()
    store = Path(lakehouse_root).resolve().parent / "mlflow" / "mlflow.db"
    return MlflowClient(f"sqlite:///{store}", f"sqlite:///{store}") if store.is_file() else None


def _erase_folder(client: MlflowClient, folder: Folder, subject: Subject, dry_run: bool,
                  version: ModelVersion | None = None, skip: tuple[str, ...] = ()
                  ) -> list[ErasedPlace]:
    rewrites, places = scan(folder, subject, skip)
    problem = None
    if rewrites and not dry_run:
        if version is not None:
            problem = _erase_version(client, version, folder, rewrites)
        else:
            for rewrite in rewrites:
                write(folder, rewrite)
    return [*places, *(ErasedPlace("artifact", f"{folder.label}/{r.relative}", r.rows,
                                   0 if dry_run else len(r.after), problem=problem)
                       for r in rewrites)]


def erase_model_artifacts(lakehouse_root: Path, env: str, subject: Subject, *, dry_run: bool
                          ) -> list[ErasedPlace]:
    """Remove the subject's rows from the artifact files of every registered version of
    `env`'s models and of the runs of `env`'s experiments (MLflow's tracking URI when set,
    else the lakehouse's own store beside `lakehouse_root`), re-recording each rewritten
    version's `artifact_sha256`.

    Returns one `ErasedPlace` per file holding the subject (kind "artifact", name
    `models:/<model>/<version>/<file>` or `runs:/<run id>/<file>`, rows dropped, the new
    file's size — 0 in a dry run; `problem` set when a rewritten version's other files no
    longer matched their digests), and places with a `problem` (rows 0) for files too large
    to check and interrupted erasures. Versions and runs without the subject are not written;
    the dry run writes nothing. Never raises on what an artifact holds."""
    client = _client(lakehouse_root)
    if client is None:
        return []
    places: list[ErasedPlace] = []
    inside: dict[str, list[str]] = {}  # run id → its versions' folders inside its artifacts
    for version in _versions(client, env):
        folder = Folder(client.get_model_version_download_uri(version.name, version.version),
                        f"models:/{version.name}/{version.version}")
        repaired = _repair(client, version, folder, dry_run)
        if repaired is not None:
            places.append(repaired)
            version = client.get_model_version(version.name, version.version)
        places += _erase_folder(client, folder, subject, dry_run, version)
        if version.run_id:
            inside.setdefault(version.run_id, []).append(folder.uri)
    for run_id in dict.fromkeys([*inside, *_experiment_runs(client, env)]):
        run = _run_folder(client, run_id)
        if run is not None:
            skip = tuple(uri.removeprefix(f"{run.uri}/") for uri in inside.get(run_id, [])
                         if uri.startswith(f"{run.uri}/"))
            places += _erase_folder(client, run, subject, dry_run, skip=skip)
    return places
