# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint bench node-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the product, embedded: SQLite + filesystem broker, web + worker + beat, demo data.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Admin:     http://127.0.0.1:8000/admin/"
	@echo "  API docs:  http://127.0.0.1:8000/api/docs/"
	@echo "  API:       http://127.0.0.1:8000/api/v1/"
	@echo "  Ctrl-C stops web, worker and beat."
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start --procfile Procfile

## Run the tests. Without DATABASE_URL: SQLite, and tests needing PostgreSQL/Redis are skipped.
test: install node-deps
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

## Only the quick tests (no real worker, server, browser or Node client).
test-fast: install
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

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

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache
