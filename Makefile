# The store's commands. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
RUNTIME := $(VENV)/.installed-runtime
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers; CI machines have two cores.
WORKERS ?= auto

.PHONY: run test lint bench setup test-tools validate clean

# `make run` needs only the runtime set; tests and lint add the dev tools.
$(RUNTIME): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements-dev.txt
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

setup: $(STAMP)

## Serve the store on http://$(HOST):$(PORT) (embedded default unless DATABASE_URL etc. are set).
run: $(RUNTIME)
	@DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --no-input
	@DEBUG=$${DEBUG:-1} $(PY) manage.py load_demo
	@echo "Serving the store at http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

## The whole suite, in parallel, on the real PostgreSQL and Redis.
test: $(STAMP) test-tools
	@$(PY) scripts/check_services.py
	@$(PY) -m pytest -n $(WORKERS) $(PYTEST_ARGS)

## Tools the tests drive as real processes: Chromium (browser journeys).
test-tools:
	@scripts/ensure-test-tools

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports
	DEBUG=1 STORE_DATA_DIR=$$(mktemp -d) $(PY) manage.py makemigrations --check --dry-run

## The scanning engine against other scanners' expected results.
CORPUS ?= ../shared/corpus
validate: $(STAMP)
	@$(PY) -m scanning.engine.validate $(CORPUS)

bench: $(STAMP)
	@$(PY) scripts/check_services.py
	@$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache staticfiles
