# Two entry points on a fresh machine: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Airflow never touches ~/airflow: everything lives in the repo-local, git-ignored airflow_home/.
export AIRFLOW_HOME := $(CURDIR)/airflow_home
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__UNIT_TEST_MODE := False

.PHONY: install lint test demo bench sandbox up clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,mysql,sqlite,bench]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy airflow_provider_restsync

test: install lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=25 tests

demo: install
	$(BIN)/python scripts/demo.py

# This project against dlt on 100,000 records (SQLite and PostgreSQL, pages of 100 and 500) and the
# machine's limits, then the memory of a 1,000,000-record sync; about 25 minutes on 2 cores.
bench: install
	$(BIN)/python -m benchmarks.sync_vs_dlt $(BENCH_ARGS)

sandbox: install
	$(BIN)/python -m airflow_provider_restsync.sandbox --port 8080 --records 1000

# The compose file's Airflow stack on this machine, without Docker (needs PostgreSQL on 127.0.0.1:5432):
# fresh databases, the sandbox and Airflow's services; UI on http://127.0.0.1:8080, admin / admin.
# Ctrl-C stops everything. docs/local-stack.md says more; UP_ARGS="--records 200 --port 8081".
up: install
	$(BIN)/python scripts/up.py $(UP_ARGS)

clean:
	rm -rf $(VENV) airflow_home .demo
