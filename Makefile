# One target per chore; CI runs `make test` (see .ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.DEFAULT_GOAL := help
.PHONY: help install test test-unit lint format sandbox demo up down chaos bench bench-installations clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev extras

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

test: $(STAMP) ## Run the whole test suite (unit and integration)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) ## Run the unit tests only
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint and format check), mypy and the import contracts
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

sandbox: $(STAMP) ## Run the sandbox (RingCentral + PubNub stand-in) in the foreground
	$(PY) -m sandbox $(SANDBOX_ARGS)

demo: $(STAMP) ## Run the whole system offline and play the seed's scenario (Ctrl-C stops)
	$(PY) -m devtools.demo demo $(DEMO_ARGS)

up: $(STAMP) ## Start the same stack in the background; print its URLs and credentials
	$(PY) -m devtools.demo up $(DEMO_ARGS)

down: ## Stop everything `make up` started
	@test -x $(PY) && $(PY) -m devtools.demo down || echo "nothing to stop"

chaos: $(STAMP) ## Run the fault matrix on a stack of its own; one line per fault (CHAOS_ARGS=--list)
	$(PY) -m bench.chaos $(CHAOS_ARGS)

bench: $(BENCH_STAMP) ## Benchmarks beside their comparators: replies vs a naive one-process bot (pools: prefork, threads, gevent), listener ingest per transport
	$(PY) -m bench.replies $(REPLIES_ARGS)
	$(PY) -m bench.ingest $(BENCH_ARGS)
	$(PY) -m bench.enqueue $(ENQUEUE_ARGS)

bench-installations: $(STAMP) ## The many-bots benchmark: 1,000 installations, 2 listeners, 2 workers (INSTALLATIONS_ARGS=--help)
	$(PY) -m bench.installations $(INSTALLATIONS_ARGS)

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
