#!/usr/bin/env bash
# Create the separate virtualenv the Feast peer runs in (never the project's .venv: Feast pins
# its own pandas/pyarrow/dask). Usage: bash bench/training_set/setup_feast.sh [venv-dir]
set -euo pipefail
VENV="${1:-${FEAST_VENV:-/tmp/feast-venv}}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "feast==0.67.0"
"$VENV/bin/python" -c "import feast; print('feast', feast.__version__, 'in', '$VENV')"
