#!/usr/bin/env bash
# The app_services molecule scenario: create, prepare, converge
# (playbooks/app_services.yml), idempotence, verify, then destroy. Starts
# from fresh containers: `--destroy never` also skips molecule's first destroy.
set -euo pipefail
rc=0
molecule destroy -s app_services >/dev/null 2>&1 || true
molecule test -s app_services --destroy never || rc=$?
molecule destroy -s app_services >/dev/null 2>&1 || true
exit $rc
