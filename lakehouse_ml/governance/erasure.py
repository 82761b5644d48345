"""Erasure of a data subject (right to be forgotten): `lakehouse-ml forget --key COL=VALUE`.

`forget` finds every place holding the subject — Delta tables bronze to gold, feature tables,
training sets, predictions, inference logs, quarantine and rejects (`erasure_tables`), online
stores (`erasure_online`), landed files and their manifest, MLflow artifacts with rows
(`erasure_files`) — and the model versions whose pinned training set held it
(`erasure_models`), and plans every change, writing nothing. The principal needs MODIFY on
every table holding the subject, on the feature table of every online store holding it and on
the bronze manifest of every landed file to rewrite (on the schema the manifest would be
created in, for a source never ingested), and MANAGE on every model whose versions
are to be tagged and on every model whose versions' artifacts are to be rewritten (see
`erasure_files_artifacts` for why MANAGE), all checked before any byte changes: a denial on
any place denies the whole request, names principal, privilege and securable, and is audited
once (a 403 record; the dry run is denied the same way). Once every check has passed, each
allowed check is one audit record naming principal, securable, securable type, privilege and
action (`erasure_checks`: a table's `generateTemporaryTableCredential`, a landed file's schema
`generateTemporaryVolumeCredential`, a model's artifacts
`generateTemporaryModelVersionCredential`, a model's versions to tag `setModelVersionTag`, a
run no model governs `writeArtifact` on the catalog). Then it rewrites each place without
the subject (tables: DELETE, VACUUM with no retention, log purged, so no data file or log
statistic still holds it), tags those model versions `needs_retraining`, and appends one
`forgetSubject` record to the audit log with the key hashed (`customer_id=sha256:…`), never in
clear. A dry run lists every place and changes nothing (not even an audit record, unless a
check is denied).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features.online.store import default_store
from lakehouse_ml.governance import erasure_checks as checks
from lakehouse_ml.governance import erasure_models, erasure_online, erasure_tables
from lakehouse_ml.governance.erasure_files_artifacts import ArtifactPlan, plan_model_artifacts
from lakehouse_ml.governance.erasure_match import MAX_VALUE_CHARS
from lakehouse_ml.governance.erasure_places import ErasedPlace, Subject
from lakehouse_ml.governance.reproduce import ERASURE_ACTIONS
from lakehouse_ml.monitoring.pii import digest

if TYPE_CHECKING:
    from lakehouse_ml.governance.erasure_files import LandedPlan

SERVICE = "governance"
MAX_COLUMN_CHARS = 128


@dataclass(frozen=True)
class ErasureReport:
    """What `forget` did (or, in a dry run, would do)."""

    key: str
    """The subject as `column=sha256:…` (the value hashed, `monitoring.pii.digest`)."""
    dry_run: bool
    places: tuple[ErasedPlace, ...]

    @property
    def found(self) -> bool:
        return bool(self.places)

    @property
    def bytes_rewritten(self) -> int:
        return sum(p.bytes_rewritten for p in self.places)

    @property
    def problems(self) -> list[str]:
        """Places that could not be (fully) erased. Not a model version's note (its pinned
        training set unreadable, e.g. purged by an earlier erasure): it is tagged all the
        same, so the subject's erasure is complete."""
        return [f"{p.kind} {p.name}: {p.problem}" for p in self.places
                if p.problem and p.kind != "model_version"]

    def lines(self) -> list[str]:
        """One line per place, then a summary."""
        verb = "would erase" if self.dry_run else "erased"
        said = [f"{p.kind} {p.name}: {verb} {p.rows} row(s)"
                + (" (tagged needs_retraining)" if p.kind == "model_version" else "")
                + (f", {p.bytes_rewritten} bytes rewritten" if p.bytes_rewritten else "")
                + (f"; {p.problem}" if p.problem else "") for p in self.places]
        if not self.found:
            return [f"{self.key}: no table, landed file, online store, artifact or model "
                    "version holds this subject; nothing to erase"]
        return [*said, f"{self.key}: {len(self.places)} place(s)"
                + (" would be touched (dry run: nothing changed)" if self.dry_run
                   else f" erased, {self.bytes_rewritten} bytes rewritten")]

    def as_json(self) -> dict[str, object]:
        return {"key": self.key, "dry_run": self.dry_run,
                "places": [asdict(p) for p in self.places],
                "bytes_rewritten": self.bytes_rewritten}


def hashed_key(subject: Subject) -> str:
    return f"{subject.column}={digest(subject.value)}"


def check(subject: Subject) -> None:
    """ValueError (one line, the value never in clear) for a value or column too long."""
    if len(subject.value) > MAX_VALUE_CHARS:
        raise ValueError(f"--key {subject.column}=...: the value has {len(subject.value)} "
                         f"characters, at most {MAX_VALUE_CHARS} are accepted")
    if len(subject.column) > MAX_COLUMN_CHARS:
        raise ValueError(f"--key: the column name has {len(subject.column)} characters, at "
                         f"most {MAX_COLUMN_CHARS} are accepted")


def canonical(subject: Subject, keys: Mapping[str, Mapping[str, tuple[pl.DataType, Any]]]
              ) -> Subject:
    """The subject with its value as an integer key column of its name spells it (`042`,
    `+42` → `42`), so the text places (bronze, rejects, landed files, logged requests), which
    compare text, find what the typed columns find, and the audit hashes one spelling."""
    for columns in keys.values():
        found = columns.get(subject.column)
        if found is not None and found[0].is_integer():
            return replace(subject, value=str(found[1]))
    return subject


def _declared() -> tuple[dict[str, dict[str, list[tuple[str, str]]]], list]:
    """Declared column lineage of every domain (`schema.table` → column → sources) and every
    declared model."""
    from lakehouse_ml.domains import declared_domains, declared_models
    from lakehouse_ml.governance.lineage_columns import domain_columns

    derived: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for domain in declared_domains():
        derived |= domain_columns(domain)
    return derived, declared_models()


def forget(root: str, env: str, subject: Subject, *, dry_run: bool,
           principal: str | None = None, landing: str | None = None,
           tracking_uri: str | None = None, redis_url: str | None = None) -> ErasureReport:
    """Erase `subject` from the lakehouse at `root`, environment `env` (and the landing zone
    `landing`, the MLflow store `tracking_uri`, when given), acting as `principal`.

    Raises ValueError (usage) for a value over MAX_VALUE_CHARS, a column no table has or a
    value not of a key column's type; PermissionDenied naming principal, privilege and
    securable when a table or online store holding the subject, a manifest of a landed file to
    rewrite, a model to tag or a model whose artifacts are to be rewritten may not be changed
    (nothing is changed then, also when the denial comes from the last place checked)."""
    check(subject)
    catalog = Catalog(root, env, principal=principal)
    derived, specs = _declared()
    keys = erasure_tables.keys_of(catalog, subject, derived)
    if (spelled := canonical(subject, keys)) != subject:
        subject, keys = spelled, erasure_tables.keys_of(catalog, spelled, derived)
    needles = erasure_tables.needles(catalog, subject, keys)
    holders = erasure_tables.find(catalog, needles, keys)
    allowed = [checks.table(catalog, h.name) for h in holders]  # recorded once all passed
    store = default_store(root, env, redis_url)
    try:
        online = erasure_online.plan(catalog, store, keys)
        client = None
        if tracking_uri:
            from lakehouse_ml.ml.registry import use_tracking

            client = use_tracking(tracking_uri)
        models = (erasure_models.plan(catalog, client, specs, keys, hashed_key(subject))
                  if client else [])
        landed, artifacts = _plan_files(catalog, subject, landing, artifacts=client is not None)
        allowed += _check_others(catalog, online, models, landed, artifacts)
        if dry_run:
            places = [*(landed.places() if landed else []), *artifacts.places(),
                      *(erasure_tables.place(h) for h in holders),
                      *(ErasedPlace("online_store", erasure_online.name(store, o.table),
                                    len(o.keys)) for o in online)]
        else:
            checks.record(catalog, allowed)  # every check passed: each allowed one, once
            places = [*(landed.apply() if landed else []), *artifacts.apply(),
                      *(erasure_tables.erase(catalog, h) for h in holders),
                      *(erasure_online.erase(store, o) for o in online)]
            if client is not None:
                erasure_models.tag(client, models, hashed_key(subject))
    finally:
        store.close()
    report = ErasureReport(hashed_key(subject), dry_run, (*places, *models))
    if not dry_run:
        _audit(catalog, report)
    return report


def _check_others(catalog: Catalog, online: Sequence[erasure_online.OnlineKeys],
                  models: Sequence[ErasedPlace], landed: LandedPlan | None,
                  artifacts: ArtifactPlan) -> list[checks.Allowed]:
    """PermissionDenied (before anything changes; audited, also in a dry run) unless the
    principal may change the other places too, as it may the tables: MODIFY on each online
    store's feature table and on each bronze manifest of a landed file to rewrite (its schema
    when there is no manifest yet: `LandedPlan.check`), MANAGE on
    each model whose versions are to be tagged (as moving its aliases needs;
    `setModelVersionTag`) and on each model whose versions' artifacts are to be rewritten
    (`ArtifactPlan.check`). Allowed checks leave no record here: they are returned, for
    `erasure_checks.record` once every check has passed."""
    return [*(checks.table(catalog, keys.table) for keys in online),
            *(checks.model(catalog, model, checks.TAG_ACTION)
              for model in dict.fromkeys(p.name.rpartition("/")[0] for p in models)),
            *(landed.check() if landed is not None else []),
            *artifacts.check(catalog)]


def _plan_files(catalog: Catalog, subject: Subject, landing: str | None, *, artifacts: bool
                ) -> tuple[LandedPlan | None, ArtifactPlan]:
    """The landed files (and their manifest) and MLflow artifacts holding the subject,
    planned (nothing written): None / an empty plan for what is not asked for."""
    from lakehouse_ml.governance.erasure_files import plan_landed_files

    return (plan_landed_files(catalog, Path(landing), subject) if landing is not None
            else None,
            plan_model_artifacts(Path(catalog.root), catalog.env, subject) if artifacts
            else ArtifactPlan(None))


def _audit(catalog: Catalog, report: ErasureReport) -> None:
    """One `forgetSubject` record (the key hashed), written before returning."""
    from lakehouse_ml.governance.audit import audit_log

    log = audit_log(catalog.root, catalog.env)
    rows = sum(p.rows for p in report.places if p.kind != "model_version")
    log.record(user=catalog.principal, service=SERVICE, action=ERASURE_ACTIONS[0], params={
        "key": report.key, "places": str(len(report.places)), "rows": str(rows),
        "bytes_rewritten": str(report.bytes_rewritten),
        "model_versions": ",".join(p.name for p in report.places
                                   if p.kind == "model_version")},
        status_code=200 if not report.problems else 500,
        error="; ".join(report.problems) or None)
    log.flush()
