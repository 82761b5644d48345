"""Model artifacts are data, never code.

Models are saved with skops (MLflow's sklearn flavour, `serialization_format="skops"`) and
loaded with the trusted-type list below, fixed here: MLflow would take the list from the
artifact's own `MLmodel`, which whoever can write the artifact store also writes. The sha256
of every artifact file is recorded at registration in the version's `artifact_sha256` tag
(next to the `validation.*` gate results), and every load (serving, batch scoring, the gates)
verifies a private copy of the files against it before reading any of them.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from sklearn.pipeline import Pipeline

DIGEST_TAG = "artifact_sha256"
SERIALIZATION_FORMAT = "skops"
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
"""Types trusted beyond skops' own safe defaults (scikit-learn estimators, numpy arrays): what
the project's pipelines need. A model holding any other type is refused; extend this list,
in review, when a domain declares an estimator that needs one."""

WRITTEN_BY_MLFLOW_AT_LOAD = frozenset({"registered_model_meta"})
"""Files MLflow itself writes into a version's folder when anything loads it by a `models:/`
URI (`mlflow models serve`, `mlflow.pyfunc.load_model`): with a local artifact store it writes
into the store. Never read here, so never hashed or compared: counting it as tampering would
refuse a version for ever once someone served it with MLflow."""

_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z0-9_-]+))")


class ModelArtifactError(RuntimeError):
    """A model version that may not be loaded: its files differ from those registered, it
    holds a type outside TRUSTED_TYPES, or it is not a skops model. Names version and file."""


def sha256_of_files(folder: Path) -> dict[str, str]:
    """Relative POSIX path → hex sha256 of every file under `folder`."""
    digests = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digests[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return digests


def resolve(client: MlflowClient, uri: str) -> tuple[str, int]:
    """`models:/<name>/<version>` or `models:/<name>@<alias>` → (name, version); any other
    URI (a run's or a path's files were never registered) raises ModelArtifactError."""
    match = _URI.fullmatch(uri)
    if match is None:
        raise ModelArtifactError(f"{uri!r}: only registered versions load "
                                 "(models:/<name>/<version> or models:/<name>@<alias>)")
    name = match["name"]
    if match["version"] is not None:
        return name, int(match["version"])
    try:
        return name, int(client.get_model_version_by_alias(name, match["alias"]).version)
    except MlflowException as error:
        raise ModelArtifactError(f"{uri}: no version has alias {match['alias']!r}") from error


def _download(client: MlflowClient, name: str, version: int, into: Path) -> Path:
    source = client.get_model_version_download_uri(name, str(version))
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(into)))


def record_digests(client: MlflowClient, name: str, version: int) -> dict[str, str]:
    """Hash the stored files of a just-registered version into its `artifact_sha256` tag."""
    with tempfile.TemporaryDirectory() as folder:
        digests = sha256_of_files(_download(client, name, version, Path(folder)))
    client.set_model_version_tag(name, str(version), DIGEST_TAG,
                                 json.dumps(digests, sort_keys=True))
    return digests


def rerecord_digests(client: MlflowClient, name: str, version: int,
                     rewritten: dict[str, str]) -> dict[str, str]:
    """After files of a registered version were rewritten on purpose (an erasure): record
    `rewritten` (relative path → hex sha256 of the new content) in its `artifact_sha256` tag,
    having checked that the stored files are exactly the recorded ones but for these.
    Raises ModelArtifactError (naming the file) when any other file differs, when a rewritten
    file does not hold the given content, or when the version has no tag."""
    label = f"{name} version {version}"
    tags = client.get_model_version(name, str(version)).tags
    if DIGEST_TAG not in tags:
        raise ModelArtifactError(f"{label} has no {DIGEST_TAG} tag to update")
    expected = {**json.loads(tags[DIGEST_TAG]), **rewritten}
    with tempfile.TemporaryDirectory() as folder:
        _compare(label, expected, sha256_of_files(_download(client, name, version, Path(folder))))
    client.set_model_version_tag(name, str(version), DIGEST_TAG,
                                 json.dumps(expected, sort_keys=True))
    return expected


def _compare(label: str, recorded: dict[str, str], found: dict[str, str]) -> None:
    for file in sorted((recorded.keys() | found.keys()) - WRITTEN_BY_MLFLOW_AT_LOAD):
        if file not in found:
            problem = "is missing"
        elif file not in recorded:
            problem = "was not there at registration"
        elif found[file] != recorded[file]:
            problem = (f"has sha256 {found[file][:12]}…, not the {recorded[file][:12]}… "
                       "recorded at registration")
        else:
            continue
        raise ModelArtifactError(f"{label}: artifact file {file!r} {problem}; refusing to load "
                                 "it (the artifact store was changed after registration)")


@contextmanager
def verified_copy(client: MlflowClient, name: str, version: int) -> Iterator[Path]:
    """A private copy of the version's files, each checked against its recorded sha256;
    read the model only from it. Raises ModelArtifactError on any difference."""
    label = f"{name} version {version}"
    tags = client.get_model_version(name, str(version)).tags
    if DIGEST_TAG not in tags:
        raise ModelArtifactError(f"{label} has no {DIGEST_TAG} tag: it was not registered "
                                 "through this project's training, so it is not loaded")
    recorded = json.loads(tags[DIGEST_TAG])
    with tempfile.TemporaryDirectory() as folder:
        local = _download(client, name, version, Path(folder))
        _compare(label, recorded, sha256_of_files(local))
        yield local


def load_pipeline(folder: Path, logged: Model, label: str) -> Pipeline:
    """The skops-serialized pipeline in `folder`, with TRUSTED_TYPES only (never the list the
    artifact carries). Raises ModelArtifactError for another format or an untrusted type."""
    flavor = logged.flavors.get("sklearn", {})
    if flavor.get("serialization_format") != SERIALIZATION_FORMAT:
        raise ModelArtifactError(
            f"{label} is saved as {flavor.get('serialization_format')!r}, not skops: pickled "
            "models can run any code when loaded, so only skops models are loaded")
    import skops.io  # here, not at module level: importing it lists every scikit-learn
    from skops.io.exceptions import UntrustedTypesFoundException  # estimator (seconds)

    file = folder / flavor["pickled_model"]
    try:
        pipeline = skops.io.load(file, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as error:
        untrusted = skops.io.get_untrusted_types(file=file)
        raise ModelArtifactError(f"{label}: {flavor['pickled_model']!r} holds types outside "
                                 f"the trusted list: {untrusted}") from error
    if not isinstance(pipeline, Pipeline):
        raise ModelArtifactError(f"{label}: {flavor['pickled_model']!r} holds a "
                                 f"{type(pipeline).__name__}, not a scikit-learn Pipeline")
    return pipeline
