# odoo-scale: one entry point. `make up` brings the stack up in local
# containers and prints how to reach it; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PY_COLORS := 0
export NO_COLOR := 1
export ANSIBLE_FORCE_COLOR := 0

.PHONY: host setup up down test lint ansible-test unit playbook-checks molecule molecule-stack molecule-lb bench

# Debian packages, a running Docker engine (idempotent, quick when present).
host:
	@scripts/setup-host.sh

$(VENV)/.installed: requirements.txt | host
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

setup: host $(VENV)/.installed
	@scripts/build-images.sh
	@scripts/local-secrets.sh

up: setup
	@scripts/up.sh

down: $(VENV)/.installed
	$(BIN)/ansible-playbook playbooks/local_stack.yml -e local_stack_state=absent

lint: $(VENV)/.installed
	@scripts/run-step.sh lint scripts/lint.sh

# ansible-test sanity and units on the collection odoo_scale.stack (galaxy.yml),
# from a copy in .cache/ansible-test: scripts/ansible-test.sh.
ansible-test: $(VENV)/.installed
	@scripts/run-step.sh ansible-test scripts/ansible-test.sh

unit: $(VENV)/.installed
	@scripts/run-step.sh unit $(BIN)/python -m pytest tests/unit -q -p no:cacheprovider -n 2 --junitxml=.cache/junit/unit.xml

playbook-checks: $(VENV)/.installed
	@scripts/run-step.sh bad-input $(BIN)/python -m pytest tests/playbooks -q -p no:cacheprovider -n 2 --junitxml=.cache/junit/bad-input.xml

# The whole stack converged once; every data-tier, services, Odoo and day-2
# check runs on it (molecule/stack).
molecule molecule-stack: setup
	@scripts/run-step.sh molecule-stack scripts/molecule-stack.sh

molecule-lb: setup
	@scripts/run-step.sh molecule-lb scripts/molecule-scenario.sh lb

bench: setup
	@scripts/run-step.sh bench-modules scripts/bench-modules.sh

# Two lanes (the stack scenario; lint, unit, bad-input, lb beside it), then
# the module benchmarks alone, then the summary: scripts/test.sh.
test: setup
	@scripts/test.sh
