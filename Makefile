# Entry points. Every target that needs the tool chain runs `setup` first (fast when done).
#   make setup | dev | dashboard | test | lint | build | bench | requirements | constraints | openapi | stop | clean | distclean

SHELL := /bin/bash
PY := .venv/bin/python
PYANY := $(shell [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)
export PYTHONPATH := $(CURDIR)/layers/core:$(CURDIR)

.PHONY: setup dev dashboard test lint build bench requirements constraints openapi stop clean distclean

setup:
	@bash scripts/setup.sh

# Builds the dashboard (npm ci only when its package-lock.json changed), which the gateway then
# serves at <gateway URL>/app/.
dev: setup
	@bash scripts/dashboard.sh build
	$(PY) -m local dev

# The dashboard's Vite dev server (hot reload) at http://127.0.0.1:5173/app/, proxying the API
# and /ws to the local cloud of `make dev` (CRM_API_URL to point it elsewhere).
dashboard:
	@bash scripts/dashboard.sh dev

# Lint, formatter and types first (each reports; the run fails if any failed), then pytest.
test: setup
	@$(MAKE) --no-print-directory lint
	$(PY) -m pytest tests

# runs all three checks, fails if any failed
lint: setup
	@rc=0; \
	.venv/bin/ruff check . || rc=1; \
	.venv/bin/ruff format --check . || rc=1; \
	.venv/bin/mypy || rc=1; \
	exit $$rc

# sam build (SAM CLI from .local/sam-cli, Python 3.12) into .aws-sam/build, then a table of
# each function's and the layer's zipped size; fails over 10 MB or when the layer's versions
# differ from layers/core/requirements.txt.
build: setup
	$(PY) scripts/sam_build.py

bench: setup
	@set -e; for f in bench/bench_*.py; do echo "== $$f"; $(PY) "$$f"; done

# layers/core/requirements.txt: the runtime dependencies' closure at constraints.txt's pins,
# without what the Lambda runtime provides (boto3); run after `make constraints` + `make setup`.
requirements: setup
	$(PY) scripts/layer_requirements.py

# Re-pins constraints.txt (the exact versions setup installs) from a fresh resolution of
# pyproject.toml's ranges in a throwaway venv; run it after changing dependencies, then
# `make setup` and the tests. tests/unit/test_layer_requirements.py checks every dependency is
# pinned inside its range.
constraints:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYANY) -m venv "$$tmp/venv"; \
	$(PYANY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print("\n".join(p["dependencies"] + p.get("optional-dependencies", {}).get("dev", [])))' > "$$tmp/reqs"; \
	PIP_CONSTRAINT= "$$tmp/venv/bin/pip" install -q --disable-pip-version-check -r "$$tmp/reqs"; \
	{ sed -n '/^#/p' constraints.txt; "$$tmp/venv/bin/pip" freeze --exclude-editable; } > "$$tmp/out"; \
	mv "$$tmp/out" constraints.txt; echo "wrote constraints.txt"

# Regenerates functions/api_docs/openapi.json (served at /openapi.json) from the API functions'
# resolvers and template.yaml; tests/unit/test_openapi.py fails while it is stale.
openapi: setup
	$(PY) scripts/openapi.py

# Stops the detached servers of the "test" profile (left running between pytest runs so the
# next run reuses them) and of the "bench" profile.
stop:
	@if [ -x $(PY) ]; then \
	    $(PY) -c 'import sys; from local.services import main; sys.exit(main(["stop", "--profile", "test"]))'; \
	    $(PY) -c 'import sys; from local.services import main; sys.exit(main(["stop", "--profile", "bench"]))'; \
	fi

# Removes caches and the servers' data (.local/<profile>); keeps .venv and the OpenSearch
# distribution. distclean removes those too.
clean:
	@if [ -x $(PY) ]; then for p in dev test bench; do \
	    $(PY) -c "import sys; from local.services import main; sys.exit(main(['stop', '--profile', '$$p']))"; \
	done; fi
	rm -rf .local/dev .local/test .local/bench .local/itest-* .pytest_cache .mypy_cache .ruff_cache .aws-sam
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf .venv .local
