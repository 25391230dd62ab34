# auth-backend developer commands. Everything installs itself into the project folder:
# .tools/ holds the pinned uv, .venv/ the locked dependencies. No root needed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
BIN := $(VENV)/bin
NPM ?= npm
NODE_BIN := tools/node_modules/.bin
NODE_TOOLS := tools/node_modules/.installed
# Redocly CLI: no usage telemetry, no update check (CI and air-gapped machines).
export REDOCLY_TELEMETRY := off
export REDOCLY_SUPPRESS_UPDATE_NOTICE := true
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# The image installs from these, exported from uv.lock (runtime, and the wheel's build backend).
EXPORT_RUNTIME := $(UV) export --frozen --no-dev --no-emit-project --format requirements-txt --quiet
EXPORT_BUILD := $(UV) export --frozen --only-group build --no-emit-project --format requirements-txt --quiet
IMAGE ?= auth-backend:local
# Docker's compose plugin; `make docker-up COMPOSE=docker-compose` for the standalone one.
COMPOSE ?= docker compose

BENCH_VENV := bench/.venv
# The server stack every benchmark server must share with the service (see bench/constraints.txt).
BENCH_STACK := aiohttp|aiohappyeyeballs|aiosignal|attrs|frozenlist|multidict|propcache|yarl|anyio|argon2-cffi|argon2-cffi-bindings|cffi|click|cryptography|fastapi|h11|httptools|idna|pydantic|pydantic-core|starlette|typing-extensions|uvicorn|uvloop
BENCH_ARGS ?= --write-results

.PHONY: help install node-tools dev run test test-fast check lint lint-imports format typecheck check-models check-env check-lock check-docs-assets lint-spec check-contract-diff contract-diff generate env-example docs-assets sdk fuzz lock pytest clean docker-build docker-up docker-down bench bench-env bench-lock bench-profile wrk

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.installed ## Create .venv with the locked dependencies

# --ignore-scripts: nothing here needs an install script (esbuild's binary is an ordinary
# optional dependency), and none may download or report anything.
$(NODE_TOOLS): tools/package.json tools/package-lock.json
	cd tools && $(NPM) ci --ignore-scripts --no-audit --no-fund
	touch $@

node-tools: $(NODE_TOOLS) ## Install the pinned Node tools (tools/package-lock.json) into tools/node_modules

dev: install ## Serve on $$HOST:$$PORT (default 127.0.0.1:8080) with reload
	$(BIN)/python -m auth_backend --reload

run: install ## Serve without reload, as the container does
	$(BIN)/python -m auth_backend

test: install node-tools check pytest ## Everything CI runs: lint, types, drift checks, tests

check: lint typecheck lint-imports check-models check-env check-lock check-docs-assets lint-spec check-contract-diff ## Static checks only

lint: install ## ruff lint and format check
	$(BIN)/ruff check src tests scripts bench doubles
	$(BIN)/ruff format --check src tests scripts bench doubles

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests scripts bench doubles
	$(BIN)/ruff format src tests scripts bench doubles

lint-imports: install ## The layering contracts of .importlinter (import-linter)
	$(BIN)/lint-imports .importlinter

typecheck: install ## mypy --strict on src/, tests/, scripts/, bench/ and doubles/
	$(BIN)/mypy src tests scripts bench doubles

generate: install ## Regenerate the Pydantic models from openapi/openapi.yaml
	$(BIN)/python scripts/generate_models.py

check-models: install ## Fail when the committed models drift from the contract
	$(BIN)/python scripts/generate_models.py --check

env-example: install ## Regenerate .env.example from the settings class
	$(BIN)/python scripts/render_env_example.py

check-env: install ## Fail when .env.example drifts from the settings class
	$(BIN)/python scripts/render_env_example.py --check

check-docs-assets: install node-tools ## Fail when the vendored Swagger UI/ReDoc files differ from the pinned npm packages
	$(BIN)/python scripts/vendor_docs_assets.py --check

docs-assets: install node-tools ## Refresh src/auth_backend/docs_static from the pinned npm packages
	$(BIN)/python scripts/vendor_docs_assets.py

lint-spec: node-tools ## Lint the contract with Redocly (recommended-strict: any warning fails)
	$(NODE_BIN)/redocly lint openapi/openapi.yaml --config redocly.yaml

check-contract-diff: install node-tools ## Fail on a breaking contract change without a major version bump
	$(BIN)/python scripts/contract_diff.py --check

contract-diff: install node-tools ## Report contract changes since the last release (BASE=ref to choose)
	$(BIN)/python scripts/contract_diff.py $(if $(BASE),--base $(BASE))

sdk: install node-tools ## Generate the Python and TypeScript SDKs into sdk/ (git-ignored)
	$(BIN)/python scripts/generate_sdks.py --out sdk

fuzz: install ## Long schemathesis run on a live server (fresh seed; FUZZ_SEED=n replays one)
	$(BIN)/python -m scripts.fuzz_contract $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

check-lock: $(UV) ## Fail when uv.lock or the requirements*.lock exports drift from pyproject.toml
	$(UV) lock --check
	@diff -u requirements.lock <($(EXPORT_RUNTIME)) && diff -u requirements-build.lock <($(EXPORT_BUILD)) \
		|| { echo "requirements*.lock drift from uv.lock: run \`make lock\` and commit them"; exit 1; }
	@echo "requirements.lock and requirements-build.lock match uv.lock"

lock: $(UV) ## Re-resolve uv.lock after editing dependencies, and re-export the image's lock files
	$(UV) lock
	$(EXPORT_RUNTIME) > requirements.lock
	$(EXPORT_BUILD) > requirements-build.lock

# Line and branch coverage of src/auth_backend, in-process only; the gate is fail_under in
# [tool.coverage.report] (pyproject.toml).
COVERAGE_ARGS ?= --cov --cov-report=term:skip-covered

pytest: install ## The test suite, with the coverage gate
	$(BIN)/pytest $(COVERAGE_ARGS) $(PYTEST_ARGS)

# The unit tests and the behavioural suite on the SQLite-backed local provider: no PostgreSQL,
# no Supabase double, no server process, browser, SDK generation or fuzzing (those are in
# other files or carry the postgres/supabase/slow markers, see tests/support/selection.py).
FAST_TESTS := tests/unit tests/test_auth_endpoints.py tests/test_auth_health.py \
	tests/test_observability.py tests/integration/test_sessions.py \
	tests/integration/test_hardening.py tests/integration/test_token_cache.py \
	tests/integration/test_local_store.py

test-fast: install ## Unit tests + the behavioural suite on local SQLite (under a minute)
	env -u TEST_POSTGRES_URL -u TEST_REDIS_URL -u REQUIRE_SERVICES \
		$(BIN)/pytest -m "not postgres and not supabase and not slow" $(FAST_TESTS) $(PYTEST_ARGS)

wrk: ## Make sure wrk (the load generator) is installed: apt-get as root, else say how
	@command -v wrk >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing wrk"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -qq -o DPkg::Lock::Timeout=300 && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				-o DPkg::Lock::Timeout=300 wrk >/dev/null; \
		else \
			echo "wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk)"; \
			exit 1; \
		fi; }

$(BENCH_VENV)/.installed: $(UV) bench/requirements.txt
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip sync --quiet --python $(BENCH_VENV)/bin/python bench/requirements.txt
	touch $@

bench-env: $(BENCH_VENV)/.installed ## Create bench/.venv: the peer (fastapi-users), PyJWT, py-spy

bench-lock: $(UV) ## Re-pin bench/requirements.txt, holding the server stack to uv.lock's versions
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt --quiet \
		| grep -E '^($(BENCH_STACK))==' | sed 's/ .*//' > bench/constraints.txt
	$(UV) pip compile --quiet --no-header --python-version 3.11 bench/requirements.in \
		-c bench/constraints.txt -o bench/requirements.txt
	sed -i '1i # Compiled by `make bench-lock` from requirements.in with constraints.txt (the server stack of uv.lock).' bench/requirements.txt

bench: install bench-env wrk ## The benchmark suite (about 12 minutes); updates bench/RESULTS.md
	@# Bytecode compiled ahead, as in the container image: start-up must not measure the compiler
	@# (PYTHONDONTWRITEBYTECODE=1 would otherwise make every start compile from source).
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib src bench doubles/supabase >/dev/null
	$(BENCH_VENV)/bin/python -m compileall -q -j 0 $(BENCH_VENV)/lib >/dev/null
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-profile: install bench-env wrk ## py-spy profiles of /me, /health, the login storm, Supabase login
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib src bench doubles/supabase >/dev/null
	for scenario in me health login supabase-login; do $(BIN)/python -m bench.profile $$scenario >/dev/null || exit 1; done
	@echo "profiles written to bench/profiles/"

docker-build: ## Build the image (auth-backend:local); needs Docker
	docker build --tag $(IMAGE) .

docker-up: ## Build and start the compose stack in the background; needs Docker
	test -f .env || cp .env.example .env
	$(COMPOSE) up --build --detach

docker-down: ## Stop the compose stack (the data volume is kept)
	$(COMPOSE) down

clean: ## Remove the environments and caches
	rm -rf $(VENV) $(TOOLS) $(BENCH_VENV) tools/node_modules .pytest_cache .mypy_cache .ruff_cache .coverage
