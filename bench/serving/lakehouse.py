"""The benchmark's lakehouse, built the way a user builds one: `lakehouse-ml generate` then
`lakehouse-ml run` (medallion, features published online, training set, champion model).
Kept in the work directory and reused while it has a champion."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.serving.servers import BIN, environment
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.registry import CHAMPION, alias_version, use_tracking


def settings_under(workdir: Path) -> Settings:
    return Settings(str(workdir / "lakehouse"), str(workdir / "landing"), "dev",
                    f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}")


def _champion(settings: Settings) -> int | None:
    if not Path(settings.mlflow_tracking_uri.removeprefix("sqlite:///")).exists():
        return None
    client = use_tracking(settings.mlflow_tracking_uri)
    return alias_version(client, MODEL.registered_name(settings.env), CHAMPION)


def prepare(workdir: Path, customers: int, days: int) -> Settings:
    settings = settings_under(workdir)
    if _champion(settings) is None:
        for args in (["generate", "--customers", str(customers), "--days", str(days)], ["run"]):
            subprocess.run([str(BIN / "lakehouse-ml"), *args], env=environment(settings),
                           check=True, cwd=workdir, stdout=subprocess.DEVNULL)
    if _champion(settings) is None:
        raise RuntimeError(f"no champion after `lakehouse-ml run` in {workdir}")
    return settings


def token(settings: Settings, name: str) -> str:
    """A fresh token (the previous one of the same name, if any, revoked)."""
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "lakehouse-ml"), "token", *args, "--name", name],
                              env=environment(settings), capture_output=True, text=True)

    cli("revoke")
    created = cli("create")
    created.check_returncode()
    return created.stdout.strip()
