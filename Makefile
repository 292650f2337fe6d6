# dbops developer entry points. The README names two: `make demo` (the operator's main job on the local default)
# and `make test` (everything CI runs).
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST := .venv/bin/pytest
RUN_DIR ?= $(or $(DBOPS_RUN_DIR),/tmp/dbops-dev)
export DBOPS_RUN_DIR := $(RUN_DIR)

.PHONY: help install dev-up dev-down dev-env test test-unit test-integration test-e2e test-faults test-env-down \
        lint fmt \
        manifests check-manifests bench run demo demo-check

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## install Debian packages, the Python venv and the Go-built control plane (idempotent)
	@bash hack/install-deps.sh

dev-up: install ## start the local control plane, PostgreSQL and MariaDB
	@bash hack/dev-up.sh

dev-down: ## stop the demo's environment (and its operator) and remove its data; the tests' environment is separate
	@bash hack/dev-down.sh

dev-env: ## print the exports for the running environment: eval "$$(make -s dev-env)"
	@bash hack/dev-env.sh

lint: install ## ruff and mypy
	.venv/bin/ruff check dbops tests bench
	.venv/bin/ruff format --check dbops tests bench
	.venv/bin/mypy

fmt: ## format the code
	.venv/bin/ruff check --fix dbops tests bench
	.venv/bin/ruff format dbops tests bench

# The tests start an environment of their own (hack/versions.sh, profile test: /tmp/dbops-test, ports 10000 higher)
# and stop it afterwards, so they never meet the demo's objects, in either order.
test: install lint ## everything: lint, unit, integration and e2e tests on the real parts
	$(PYTEST) tests

test-unit: install ## unit tests only (no environment needed)
	$(PYTEST) tests/unit

test-integration: install ## integration tests (starts the environment if it is not up)
	$(PYTEST) tests/integration

test-e2e: install ## end-to-end tests (starts the environment if it is not up)
	$(PYTEST) tests/e2e

test-faults: install ## the fault suite: the operator while real parts fail (starts the environment if needed)
	$(PYTEST) tests/faults

test-env-down: ## stop a tests' environment kept with DBOPS_KEEP_ENV=1
	@DBOPS_PROFILE=test bash hack/dev-down.sh

manifests: install ## regenerate config/crd and config/rbac from the typed models
	$(PY) -m dbops.api.crdgen

check-manifests: install ## fail if the committed manifests differ from the generator's output
	$(PY) -m dbops.api.crdgen --check

bench: install ## benchmarks: print numbers (never pass/fail)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

run: install ## run the operator locally against the current kubeconfig
	$(PY) -m dbops

demo: dev-up ## the main job: local control plane + PostgreSQL + the operator + the samples
	@bash hack/demo.sh

demo-check: ## check a running demo: operator ready, every sample Ready, no Warning events
	@bash hack/demo-check.sh
