# The two commands of the README: `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PLAN   ?= examples/watchkeeper.yaml

.PHONY: up install dev assets tools test lint typecheck pytest docs clean

up: install
	exec $(BIN)/watchkeeper up --plan $(PLAN)

install: $(VENV)/.installed assets tools

# restic drives the backups; installed from the distribution when missing (as root).
tools:
	@command -v restic >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -qq restic >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq restic >/dev/null; }; } ; } \
	  || echo "note: backups need restic; install the restic package"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

dev: $(VENV)/.dev-installed assets tools

$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

assets: node_modules/.package-lock.json src/watchkeeper/web/static/vendor/htmx.min.js

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

src/watchkeeper/web/static/vendor/htmx.min.js: node_modules/.package-lock.json
	node scripts/vendor-assets.mjs

lint: dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: dev
	$(BIN)/mypy

# Four workers on any machine: most tests wait on servers, browsers and subprocesses, so
# twice the cores of a small CI machine keeps them busy (PYTEST_WORKERS overrides).
pytest: dev
	$(BIN)/pytest -n $(or $(PYTEST_WORKERS),4)

test: lint typecheck pytest

# The generated references, then the site in site/ (strict: a broken link fails the build).
docs: dev
	$(BIN)/python scripts/gen_plan_docs.py > docs/plan.md
	$(BIN)/python scripts/gen_api_docs.py > docs/api.md
	$(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) node_modules src/watchkeeper/web/static/vendor
