"""`ModelAccess` keeps its `EXECUTE` decisions exactly as long as the governance state does
not move on, by the store's own definition of that (`Store.moved_past`), on a real metastore
in a temporary lakehouse."""

from __future__ import annotations

import os

from lakehouse_ml.config import Settings
from lakehouse_ml.governance import SERVICE_PRINCIPAL, Metastore
from lakehouse_ml.serving.authorization import ModelAccess

APP = "app-svc"
MODEL = "dev.churn.churn_clf"


def test_a_revoke_is_seen_even_when_the_state_folder_keeps_its_modification_time(
        settings: Settings) -> None:
    """A version file arriving with the folder's modification time unchanged (a copy that
    keeps times, a coarse clock) still ends every cached decision at the next check."""
    metastore = Metastore(settings.root, settings.env)
    metastore.create("SCHEMA", "churn")
    metastore.add_principal(APP, SERVICE_PRINCIPAL)
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", APP)
    metastore.grant(["USE SCHEMA", "EXECUTE"], "SCHEMA", "churn", APP)
    access = ModelAccess(settings.root, settings.env)
    folder = metastore.store.dir
    before = os.stat(folder)
    os.utime(folder, ns=(before.st_atime_ns, before.st_mtime_ns - 10**9))  # long settled
    assert access.check(APP, MODEL) is None
    assert access.check(APP, MODEL) is None  # cached

    stamp = os.stat(folder)
    metastore.revoke(["EXECUTE"], "SCHEMA", "churn", APP)
    os.utime(folder, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    denied = access.check(APP, MODEL)
    assert denied is not None, "the revoke applies at the next check"
    assert (denied.principal, denied.privilege, denied.securable) == (
        APP, "EXECUTE", f"MODEL {MODEL}")

    metastore.grant(["EXECUTE"], "SCHEMA", "churn", APP)
    os.utime(folder, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert access.check(APP, MODEL) is None, "and so does the grant after it"
