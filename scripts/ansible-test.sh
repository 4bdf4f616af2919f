#!/usr/bin/env bash
# `make ansible-test`: ansible-test sanity and units on the collection
# odoo_scale.stack (galaxy.yml), on the venv's Python, without containers.
#
# ansible-test wants to run inside .../ansible_collections/<ns>/<name> and
# lists a collection's files with git. This repository is neither, so the
# collection is built as `ansible-galaxy collection build` ships it (its
# build_ignore applies: no molecule/, bench/, scripts/ ...) and unpacked into
# .cache/ansible-test/ansible_collections/odoo_scale/stack, a git work tree of
# its own (nothing committed: ansible-test takes untracked files too; without
# it ansible-test finds this repository's .git, where .cache/ is ignored, and
# sees no file).
#
# Sanity: every test ansible-test has, but
#   pslint      PowerShell: no pwsh here and the collection has no PowerShell;
#   shellcheck  only when the shellcheck binary is missing (make host
#               installs it; the collection has no .sh file today).
# Each skip is printed. Findings that cannot be fixed in the file itself
# are in tests/sanity/ignore-2.19.txt, each with its reason.
# Units: tests/unit, the collection's copy, on the same throwaway PostgreSQL
# servers as `make unit`, except test_odoo_source.py and
# test_image_zipcache.py, which test scripts/ (repository tooling the
# collection does not ship) and run in `make unit` only.
#
# The sanity tests' own virtual environments (~/.ansible/test/venv) are
# bootstrapped with a get-pip.py that ansible-test downloads from
# ci-files.testing.ansible.com; where nothing is cached yet,
# scripts/ansible-test-get-pip.py stands in for it (pip from PyPI).
# JUnit: one case per sanity test plus the unit tests, in
# .cache/junit/ansible-test.xml for scripts/summary.py.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.cache/ansible-test
coll=$work/ansible_collections/odoo_scale/stack
junit=$root/.cache/junit/ansible-test.xml
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

rm -rf "$work"
mkdir -p "$coll" "$(dirname "$junit")"
ansible-galaxy collection build --force --output-path "$work" . >/dev/null || exit 1
tar -xzf "$work"/odoo_scale-stack-*.tar.gz -C "$coll" || exit 1
# A source tree like this repository's: galaxy.yml (ansible-test reads the
# version there), not the built MANIFEST.json and FILES.json.
rm -f "$work"/odoo_scale-stack-*.tar.gz "$coll/MANIFEST.json" "$coll/FILES.json"
cp galaxy.yml "$coll/"
git -C "$coll" init -q || exit 1

pip_version=$(python - <<'EOF'
import os
import re
import ansible_test
src = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
print(re.search(r"pip='([^']+)'", open(src).read()).group(1))
EOF
)
get_pip=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [[ ! -s $get_pip ]]; then
  mkdir -p "$(dirname "$get_pip")"
  cp scripts/ansible-test-get-pip.py "$get_pip"
fi

skips=(--skip-test pslint)
echo "ansible-test sanity: SKIPPED pslint: no PowerShell (pwsh) here, and the collection has no PowerShell file"
if ! command -v shellcheck >/dev/null; then
  skips+=(--skip-test shellcheck)
  echo "ansible-test sanity: SKIPPED shellcheck: the shellcheck binary is missing (make host installs it)"
fi

cd "$coll" || exit 1
start=$SECONDS
ansible-test sanity --python "$py" --color no --junit "${skips[@]}" 2>&1 \
  | grep -v "^WARNING: Location 'file://.*' is ignored"
sanity_rc=${PIPESTATUS[0]}
sanity_secs=$((SECONDS - start))

units=()
for t in tests/unit/test_*.py; do
  case $t in
    */test_odoo_source.py | */test_image_zipcache.py) ;;
    *) units+=("$t") ;;
  esac
done
ansible-test units --python "$py" --color no --num-workers 2 "${units[@]}"
units_rc=$?

# One JUnit file for scripts/summary.py: ansible-test's own case per sanity
# test that ran (it writes one file each), a skipped case per test skipped
# above, a failed case if sanity failed without naming a test, then the unit
# tests' cases.
python - "$junit" "$sanity_rc" "${skips[@]}" <<'EOF'
import glob
import sys
import xml.etree.ElementTree as ET

out, rc, skips = sys.argv[1], int(sys.argv[2]), sys.argv[4::2]
suites = ET.Element('testsuites')
sanity = ET.SubElement(suites, 'testsuite', name='ansible-test sanity')
for path in sorted(glob.glob('tests/output/junit/ansible-test-sanity-*.xml')):
    for case in ET.parse(path).getroot().iter('testcase'):
        sanity.append(case)
for name in skips:
    case = ET.SubElement(sanity, 'testcase', classname='sanity', name=name)
    ET.SubElement(case, 'skipped', message='skipped by scripts/ansible-test.sh: see the step output')
if rc and not sanity.findall('.//failure') and not sanity.findall('.//error'):
    case = ET.SubElement(sanity, 'testcase', classname='sanity', name='ansible-test sanity')
    ET.SubElement(case, 'failure', message='ansible-test sanity exited %d' % rc)
for path in glob.glob('tests/output/junit/python*-units.xml'):
    for suite in ET.parse(path).getroot().iter('testsuite'):
        suites.append(suite)
ET.ElementTree(suites).write(out, encoding='unicode')
EOF

echo "ansible-test: sanity ${sanity_secs}s (exit ${sanity_rc}), units $((SECONDS - start - sanity_secs))s (exit ${units_rc})"
((sanity_rc == 0 && units_rc == 0))
