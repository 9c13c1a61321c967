# The README's commands. Everything installs into .venv from this repo's own files.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run test lint check bench clean web chromium

# The web apps (web/ -> app/web/static/): npm installs from the committed lockfile, the
# build runs again only when a source, the lockfile or the build script changed.
WEB_STAMP := app/web/static/.built
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs

web/node_modules/.package-lock.json: web/package-lock.json
	npm --prefix web ci --no-audit --no-fund --loglevel=error

$(WEB_STAMP): web/node_modules/.package-lock.json $(WEB_SOURCES)
	npm --prefix web run build --silent
	touch $@

web: $(WEB_STAMP)

# The browser tests drive Debian's Chromium (never a browser download): installed here
# when missing, as root; otherwise say how.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.runtime

## run: install, build the web apps and serve on the embedded SQLite store (./var, ./keys)
run: $(VENV)/.runtime $(WEB_STAMP)
	$(BIN)/statuspass serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

## test: install with test dependencies, build the web apps, run the whole test suite
test: $(VENV)/.dev $(WEB_STAMP) chromium
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
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache web/node_modules app/web/static
