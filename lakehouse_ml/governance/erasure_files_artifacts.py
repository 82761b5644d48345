"""Erasure from MLflow artifacts that hold rows: the files of every registered version of the
environment's models (input examples) and the artifacts of the runs of the environment's
experiments (`/<env>/...`) and of the runs that registered those versions (tables logged with
the run), rewritten without the subject's rows (`erasure_files_tables`).

Plan, check, then change: `plan_model_artifacts` reads every folder and writes nothing,
`ArtifactPlan.check` asks for the privilege of every folder it would change, and only then
`ArtifactPlan.apply` writes. The privilege: rewriting a registered version's files and
re-recording its `artifact_sha256` changes the version (what loads verified), which Unity
Catalog allows no one below the model's owner (UpdateModelVersion and DeleteModelVersion
need its owner or a metastore admin, with USE CATALOG and USE SCHEMA; a READY version's files
are never writable there). This project's stand-in for ownership is MANAGE on the model
(`Catalog.check_model_owner`, as for registering a version, moving an alias or tagging
versions `needs_retraining`). So a version's own files need MANAGE on its model; a run's
artifacts need MANAGE on the model of every version registered from the run and on the model
its experiment is named for (`/<env>/<schema>/<model>`, as training names it); a run of
another experiment (e.g. `/<env>/monitoring`), which no model governs and which is no Unity
Catalog securable, needs MANAGE on the environment's catalog (fail closed).

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
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import access
from lakehouse_ml.governance import erasure_checks as checks
from lakehouse_ml.governance import securables as s
from lakehouse_ml.governance.erasure_files_store import (
    Folder,
    Rewrite,
    scan,
    sha256,
    stored_digests,
    write,
)
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.governance.privileges import MANAGE, PermissionDenied
from lakehouse_ml.ml.artifacts import DIGEST_TAG, ModelArtifactError, rerecord_digests

PENDING_TAG = "erasure_pending_sha256"


def _interrupted(folder: Folder) -> ErasedPlace:
    """A dry run's place for an interrupted erasure of the folder's version."""
    return ErasedPlace("artifact", folder.label, 0, problem="an earlier erasure was "
                       "interrupted: the next forget records the rewritten files' digests")


def _repair(client: MlflowClient, version: ModelVersion, folder: Folder) -> ErasedPlace:
    """Finish an erasure killed between rewriting a version's files and recording them."""
    try:
        pending = json.loads(version.tags[PENDING_TAG])
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


def _experiment_runs(client: MlflowClient, env: str) -> Iterator[tuple[str, str]]:
    """(run id, experiment name) of every run of the environment's experiments
    (`/<env>/...`)."""
    names = {e.experiment_id: e.name for e in client.search_experiments(
        filter_string=f"name LIKE '/{env}/%'", max_results=1000)
        if e.name.startswith(f"/{env}/")}
    token = None
    while names:
        page = client.search_runs(list(names), page_token=token, max_results=1000)
        yield from ((run.info.run_id, names[run.info.experiment_id]) for run in page)
        token = page.token
        if not token:
            return


def _governing(model: str, env: str) -> tuple[str, str]:
    """The securable whose MANAGE rewriting artifacts of the registered model `model` needs:
    the model when its name is `<env>.<schema>.<name>`, else the environment's catalog."""
    if model.startswith(f"{env}.") and model.count(".") == 2:
        try:
            return s.MODEL, s.parse_name(s.MODEL, model, env)
        except ValueError:
            pass
    return s.CATALOG, env


def _experiment_model(experiment: str, env: str) -> str:
    """The registered model an experiment of `env` is named for (`/<env>/<schema>/<name>` →
    `<env>.<schema>.<name>`, as training names it); any other experiment's name gives one
    `_governing` maps to the catalog (`/<env>/monitoring` → `<env>.monitoring`)."""
    return f"{env}.{experiment.removeprefix(f'/{env}/').replace('/', '.')}"


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


@dataclass(frozen=True)
class FolderPlan:
    """An artifact folder as planned: its table files holding the subject, rewritten (not
    written yet), and the files too large to check."""

    folder: Folder
    rewrites: tuple[Rewrite, ...]
    unchecked: tuple[ErasedPlace, ...]
    governed_by: tuple[tuple[str, str], ...]
    """(securable type, full name) of each securable whose MANAGE changing the folder needs."""
    version: ModelVersion | None = None
    """The registered version whose own files the folder holds (None: a run's artifacts)."""

    @property
    def interrupted(self) -> bool:
        """An earlier erasure of the version's files was killed: apply finishes it."""
        return self.version is not None and PENDING_TAG in self.version.tags

    @property
    def changes(self) -> bool:
        return bool(self.rewrites) or self.interrupted

    def places(self, written: bool, problem: str | None = None) -> list[ErasedPlace]:
        return [*self.unchecked, *(ErasedPlace(
            "artifact", f"{self.folder.label}/{r.relative}", r.rows,
            len(r.after) if written else 0, problem=problem) for r in self.rewrites)]


@dataclass(frozen=True)
class ArtifactPlan:
    """What an erasure would change in the MLflow artifacts (nothing is written until
    `apply`)."""

    client: MlflowClient | None
    folders: tuple[FolderPlan, ...] = ()

    def securables(self) -> list[tuple[str, str]]:
        """Each securable (type, full name) whose MANAGE the changes need, once, in order."""
        return list(dict.fromkeys(g for f in self.folders if f.changes for g in f.governed_by))

    def check(self, catalog: Catalog) -> list[checks.Allowed]:
        """PermissionDenied unless `catalog.principal` holds MANAGE on every securable of
        `securables()` (see the module's docstring); the first denial is raised, naming
        principal, privilege, securable and the model (or catalog) whose artifacts it guards,
        and audited (a 403 `checkPermission` record, once). Records nothing it allows, so a
        dry run checks the same way; returns each allowed check for `erasure_checks.record`
        (a model's: `generateTemporaryModelVersionCredential` READ_WRITE_MODEL_VERSION; the
        catalog's, for runs no model governs: `writeArtifact`). Writes nothing."""
        allowed = []
        for kind, name in self.securables():
            try:
                if kind == s.MODEL:
                    allowed.append(checks.model(catalog, name, checks.MODEL_VERSION_ACTION,
                                                checks.WRITE_MODEL_VERSION))
                else:
                    access(catalog.root, catalog.env).check(catalog.principal, MANAGE, kind,
                                                            name)
                    allowed.append(checks.Allowed(kind, name, MANAGE, checks.RUN_ACTION))
            except PermissionDenied as denied:
                why = (f"needed to rewrite the artifacts of model {name}" if kind == s.MODEL
                       else f"needed to rewrite MLflow artifacts no model of {name} governs")
                raise PermissionDenied(denied.principal, denied.privilege, denied.securable,
                                       why) from denied
        return allowed

    def places(self) -> list[ErasedPlace]:
        """The places as a dry run reports them (0 bytes rewritten)."""
        return [place for folder in self.folders for place in (
            [_interrupted(folder.folder)] if folder.interrupted else []) + folder.places(False)]

    def apply(self) -> list[ErasedPlace]:
        """Finish interrupted erasures, rewrite the planned files, re-record the versions'
        digests; the places erased. Call `check` first."""
        client = self.client
        if client is None:
            return []
        places: list[ErasedPlace] = []
        for plan in self.folders:
            version, problem = plan.version, None
            if plan.interrupted and version is not None:
                places.append(_repair(client, version, plan.folder))
                version = client.get_model_version(version.name, version.version)
            if plan.rewrites:
                if version is not None:
                    problem = _erase_version(client, version, plan.folder, list(plan.rewrites))
                else:
                    for rewrite in plan.rewrites:
                        write(plan.folder, rewrite)
            places += plan.places(True, problem)
        return places


def _folder(folder: Folder, subject: Subject, governed_by: tuple[tuple[str, str], ...],
            version: ModelVersion | None = None, skip: tuple[str, ...] = ()) -> FolderPlan:
    rewrites, unchecked = scan(folder, subject, skip)
    return FolderPlan(folder, tuple(rewrites), tuple(unchecked), governed_by, version)


def plan_model_artifacts(lakehouse_root: Path, env: str, subject: Subject) -> ArtifactPlan:
    """Read the artifact files of every registered version of `env`'s models and of the runs
    of `env`'s experiments and of the runs that registered those versions (MLflow's tracking
    URI when set, else the lakehouse's own store beside `lakehouse_root`: none, an empty
    plan), and plan the rewrite of each table file holding the subject. Writes nothing; never
    raises on what an artifact holds."""
    client = _client(lakehouse_root)
    if client is None:
        return ArtifactPlan(None)
    folders: list[FolderPlan] = []
    inside: dict[str, list[tuple[str, str]]] = {}  # run id → (its versions' folders, model)
    for version in _versions(client, env):
        folder = Folder(client.get_model_version_download_uri(version.name, version.version),
                        f"models:/{version.name}/{version.version}")
        folders.append(_folder(folder, subject, (_governing(version.name, env),), version))
        if version.run_id:
            inside.setdefault(version.run_id, []).append((folder.uri, version.name))
    experiments = dict(_experiment_runs(client, env))
    for run_id in dict.fromkeys([*inside, *experiments]):
        run = _run_folder(client, run_id)
        if run is None:
            continue
        registered = inside.get(run_id, [])
        skip = tuple(uri.removeprefix(f"{run.uri}/") for uri, _ in registered
                     if uri.startswith(f"{run.uri}/"))
        governed_by = tuple(dict.fromkeys([
            *(_governing(model, env) for _, model in registered),
            *([_governing(_experiment_model(experiments[run_id], env), env)]
              if run_id in experiments else [])]))
        folders.append(_folder(run, subject, governed_by, skip=skip))
    return ArtifactPlan(client, tuple(folders))


def erase_model_artifacts(lakehouse_root: Path, env: str, subject: Subject, *, dry_run: bool,
                          principal: str | None = None) -> list[ErasedPlace]:
    """Remove the subject's rows from the artifact files `plan_model_artifacts` finds,
    re-recording each rewritten version's `artifact_sha256`, acting as `principal` (default:
    the current principal): every privilege is checked before any file is written
    (`ArtifactPlan.check`; also in a dry run), PermissionDenied when one is missing.

    Returns one `ErasedPlace` per file holding the subject (kind "artifact", name
    `models:/<model>/<version>/<file>` or `runs:/<run id>/<file>`, rows dropped, the new
    file's size — 0 in a dry run; `problem` set when a rewritten version's other files no
    longer matched their digests), and places with a `problem` (rows 0) for files too large
    to check and interrupted erasures. Versions and runs without the subject are not written;
    the dry run writes nothing. Never raises on what an artifact holds. A real run records each
    allowed check once, after every check has passed (`erasure_checks`); a dry run none."""
    plan = plan_model_artifacts(lakehouse_root, env, subject)
    if not plan.securables():
        return plan.places() if dry_run else plan.apply()
    catalog = Catalog(str(lakehouse_root), env, principal=principal)
    allowed = plan.check(catalog)
    if dry_run:
        return plan.places()
    checks.record(catalog, allowed)
    return plan.apply()
