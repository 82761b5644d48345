# Two commands on a fresh machine: `make run` (pipeline end to end) and `make test`.
# Each installs what it needs into .venv first, pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UI_HOST ?= 127.0.0.1
UI_PORT ?= 3000
MLFLOW_PORT ?= 5000

# Both may come from the environment; the defaults are the ones lakehouse-ml itself uses.
DAGSTER_HOME ?= $(CURDIR)/data/dagster
export DAGSTER_HOME
MLFLOW_TRACKING_URI ?= sqlite:///$(abspath $(or $(LAKEHOUSE_ROOT),data/lakehouse)/..)/mlflow/mlflow.db
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: install run test test-durations redis-server ui mlflow-ui bench mutation lint clean

install: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

run: install
	$(BIN)/lakehouse-ml generate --if-empty
	$(BIN)/lakehouse-ml run

# The online-store tests start their own redis-server on loopback; install it if missing
# (Debian/Ubuntu; elsewhere install redis-server yourself). Its absence fails the tests.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# One pytest-xdist worker per core; a file's tests run on one worker (`--dist loadfile`), so its
# module fixtures are built once and its tests keep their order; files go out slowest first
# (tests/durations.py; xdist would otherwise sort them by their number of tests). One
# OpenMP thread per worker: with more threads than cores, scikit-learn's spin-waiting threads
# cost far more than the work (tests/serving/test_fast_paths.py: 93 s of calls, 2.3 s with one).
TEST_WORKERS ?= auto
test: install redis-server
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) \
		--dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Re-record each test file's seconds (tests/durations.json), which orders files slowest first.
test-durations: install redis-server
	$(MAKE) test PYTEST_ARGS=--junitxml=$(CURDIR)/.test-durations.xml
	$(BIN)/python -m tests.durations .test-durations.xml

ui: install
	$(BIN)/dagster dev -w workspace.yaml -h $(UI_HOST) -p $(UI_PORT)

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) \
		--host 127.0.0.1 --port $(MLFLOW_PORT)

bench: install
	$(BIN)/python -m bench

# Mutation testing of the modules that decide correctness (slow; not part of `make test`):
# counts and survivors go to bench/MUTATION.md. By default issue 8's groups (under an hour on
# 2 cores); GROUPS="ml tokens" runs only those, GROUPS=monitoring a group outside the default
# (online, monitoring, access, ...), GROUPS=all every group.
mutation: install
	$(BIN)/python -m bench.mutation $(GROUPS)

lint: install
	$(BIN)/ruff check lakehouse_ml tests bench

clean:
	rm -rf data/lakehouse data/landing data/dagster data/mlflow
