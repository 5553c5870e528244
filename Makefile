# `make run` and `make test` work on a fresh machine with Python 3.11, git and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := FLASK_APP=wsgi.py FLASK_CONFIG=$${FLASK_CONFIG:-development} $(BIN)/flask

.PHONY: run test lint format bench clean setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

setup: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) setup

run: setup
	$(FLASK) run --host 127.0.0.1 --port 5000

# With SHEETPORT_TEST_DATABASE_URL set (CI sets it: see .ci/postgres), the whole suite runs
# a second time against that PostgreSQL database.
test: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	SHEETPORT_TEST_DATABASE_URL= $(BIN)/pytest
	if [ -n "$$SHEETPORT_TEST_DATABASE_URL" ]; then \
	  echo "== the suite again, on PostgreSQL"; $(BIN)/pytest -p no:cacheprovider -m "not sqlite_only"; fi

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts

# Benchmarks print figures beside their baselines; they never fail a build.
$(VENV)/.bench: requirements-bench.txt $(VENV)/.dev
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench
	$(BIN)/python bench/convert_bench.py
