# `make demo` and `make test` work on a fresh machine: they create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo chat test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## play a whole simulated day on SQLite and print the 日報
	$(BIN)/nippo demo --script

chat: $(STAMP)  ## chat as a member in the terminal
	$(BIN)/nippo demo

test: $(STAMP)  ## the test suite (set NIPPO_TEST_DATABASE_URL for PostgreSQL)
	$(BIN)/pytest

# The fast lane (under a minute): the pure core and the platform adapters, no slow tests.
FAST := tests/unit tests/architecture tests/line tests/slack tests/ingest
test-fast: $(STAMP)  ## the fast lane: pure core + adapters, no `slow` tests
	$(BIN)/pytest -m "not slow" $(FAST)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/vulture

clean:
	rm -rf $(VENV) nippo-demo.db*
