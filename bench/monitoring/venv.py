"""Evidently's own virtual environment, `bench/out/evidently-venv`: created on first use from
the pinned `evidently-requirements.txt` beside this file (PyPI only), and rebuilt when that file
changes. It never touches the project's `.venv` or `constraints.txt`: Evidently 0.7.23 needs
pandas < 3, the project pins pandas 3.

The recipe, by hand:

    python3.11 -m venv bench/out/evidently-venv
    bench/out/evidently-venv/bin/pip install -r bench/monitoring/evidently-requirements.txt
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import OUT

REQUIREMENTS = Path(__file__).resolve().parent / "evidently-requirements.txt"
VENV = OUT / "evidently-venv"
STAMP = VENV / "requirements.sha256"
"""The hash of the requirements the venv was built from, written once it is complete."""


class VenvFailed(RuntimeError):
    """Creating the Evidently venv failed (the message holds pip's last lines)."""


def _digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise VenvFailed(f"{' '.join(command)} exited {done.returncode}: {tail}")


def evidently_python() -> Path:
    """The Evidently venv's interpreter, after creating the venv if it is missing or stale."""
    python = VENV / "bin" / "python"
    if STAMP.is_file() and STAMP.read_text().strip() == _digest() and python.is_file():
        return python
    print(f"  creating {VENV} from {REQUIREMENTS.name} (first use, a few minutes)", flush=True)
    shutil.rmtree(VENV, ignore_errors=True)
    _run([sys.executable, "-m", "venv", "--clear", str(VENV)])
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          "-r", str(REQUIREMENTS)])
    STAMP.write_text(_digest() + "\n")
    return python
