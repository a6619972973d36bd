# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint lock bench node-deps clean

# The install follows the lock (exact versions, checked against pyproject.toml's ranges by
# tests/config/test_platform.py); `make lock` re-resolves both locks after a range changes.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements-dev.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the product, embedded: SQLite + filesystem broker, web + worker + beat, demo data.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@$(BIN)/python -m config.run

## Run the tests (worksteal: an idle worker takes queued tests from a busy one, so the long
## integration modules do not leave one worker running alone at the end). Without DATABASE_URL: SQLite, and tests needing PostgreSQL/Redis are skipped.
## Bytecode is cached (__pycache__, ignored by git) even where the environment sets
## PYTHONDONTWRITEBYTECODE: each pytest worker and every worker, beat and manage.py process the
## tests start would otherwise compile the project's modules again.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n auto --dist worksteal
test: install node-deps
	$(PYTEST) $(PYTEST_ARGS)

## Only the quick tests (no real worker, server, browser or Node client).
test-fast: install
	$(PYTEST) -m "not integration" $(PYTEST_ARGS)

## Node packages of the tests: the WatermelonDB client, and Redocly's OpenAPI lint.
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
		for dir in tests/sync_client tools/openapi; do \
			(cd $$dir && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; }) || exit 1; \
		done; \
	else echo "Node/npm not found: the WatermelonDB sync and OpenAPI lint tests will be skipped."; fi

## Lint: ruff, migrations in step with the models, and the import contracts (docs/architecture.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/lint-imports

LOCK := $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links
lock: install
	$(LOCK) --output-file requirements.lock pyproject.toml
	$(LOCK) --extra dev --output-file requirements-dev.lock pyproject.toml

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache
