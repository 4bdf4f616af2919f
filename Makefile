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

.PHONY: host setup up down test lint unit playbook-checks molecule molecule-app-services molecule-lb molecule-odoo bench

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
	$(BIN)/ansible-playbook playbooks/local_stack.yml
	$(BIN)/ansible-playbook playbooks/site.yml
	@scripts/local-endpoints.sh

down: $(VENV)/.installed
	$(BIN)/ansible-playbook playbooks/local_stack.yml -e local_stack_state=absent

lint: $(VENV)/.installed
	@scripts/run-step.sh lint scripts/lint.sh

unit: $(VENV)/.installed
	@scripts/run-step.sh unit $(BIN)/python -m pytest tests/unit -q -p no:cacheprovider

playbook-checks: $(VENV)/.installed
	@scripts/run-step.sh bad-input $(BIN)/python -m pytest tests/playbooks -q -p no:cacheprovider

molecule: setup
	@scripts/run-step.sh molecule-default scripts/molecule-default.sh

molecule-app-services: setup
	@scripts/run-step.sh molecule-app-services scripts/molecule-scenario.sh app_services

molecule-lb: setup
	@scripts/run-step.sh molecule-lb scripts/molecule-scenario.sh lb

molecule-odoo: setup
	@scripts/run-step.sh molecule-odoo scripts/molecule-odoo.sh

bench: setup
	@scripts/run-step.sh bench-modules scripts/bench-modules.sh

test: setup
	@rm -f .cache/summary
	-@$(MAKE) --no-print-directory lint
	-@$(MAKE) --no-print-directory unit
	-@$(MAKE) --no-print-directory playbook-checks
	-@$(MAKE) --no-print-directory molecule
	-@$(MAKE) --no-print-directory molecule-app-services
	-@$(MAKE) --no-print-directory molecule-lb
	-@$(MAKE) --no-print-directory molecule-odoo
	-@$(MAKE) --no-print-directory bench
	@scripts/summary.sh
