# Python 3.11 or 3.12 (the embedded Redis ships as a wheel for both).
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# daphne, uvicorn or granian (api/servers.py says what each was measured to do).
SERVER ?= uvicorn

.PHONY: run test install schema format assets

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo
	$(BIN)/python -m api.run_local $(SERVER) --host $(HOST) --port $(PORT)

# The suite runs on SQLite, then (all but the process tests, which make their
# own databases) on PostgreSQL: required in CI, skipped elsewhere if absent.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(TEST_POSTGRES_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "Running the suite on PostgreSQL"; \
	  DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m pytest --ignore=tests/e2e; \
	elif [ "$$CI" = "true" ]; then \
	  echo "PostgreSQL is not reachable at $(TEST_POSTGRES_URL)"; exit 1; \
	else \
	  echo "PostgreSQL is not reachable at $(TEST_POSTGRES_URL): skipping the PostgreSQL run"; \
	fi

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed: make PYTHON=/path/to/python3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate schema.graphql after changing the GraphQL types.
schema: install
	$(BIN)/python manage.py export_schema > schema.graphql

# Browser libraries, pinned by frontend/package-lock.json and committed under
# api/static/vendor/ so that running the project needs no Node.js.
VENDOR := api/static/vendor
assets:
	cd frontend && npm ci --no-audit --no-fund
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)
	cd frontend/node_modules && for file in \
	    react/umd/react.production.min.js react/LICENSE \
	    react-dom/umd/react-dom.production.min.js react-dom/LICENSE \
	    js-cookie/dist/js.cookie.min.js js-cookie/LICENSE \
	    graphiql/graphiql.min.js graphiql/graphiql.min.css graphiql/LICENSE \
	    @graphiql/plugin-explorer/dist/index.umd.js @graphiql/plugin-explorer/dist/style.css \
	    graphql-ws/umd/graphql-ws.min.js graphql-ws/LICENSE.md; do \
	  mkdir -p ../../$(VENDOR)/$$(dirname $$file) && cp $$file ../../$(VENDOR)/$$file; \
	done
	# axe-core for the browser tests' accessibility checks, pinned by tests/e2e/axe/package-lock.json.
	cd tests/e2e/axe && npm ci --no-audit --no-fund && cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE .
