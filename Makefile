# The README's commands. Everything installs into .venv from this repo's own files.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run test lint check bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.runtime

## run: install and serve the API on the embedded SQLite store (./var, ./keys)
run: $(VENV)/.runtime
	$(BIN)/statuspass serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

## test: install with test dependencies and run the whole test suite
test: $(VENV)/.dev
	$(BIN)/python -m pytest

## lint: what CI checks besides the tests
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict app

check: test lint

bench: $(VENV)/.dev
	$(BIN)/python bench/issuance.py
	$(BIN)/python bench/verify.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
