"""One writer per file (issue 13): the files that the converge and the day-2
playbooks both touch are written by one task each, which the other side
includes as a role entry point. The tasks are read from the YAML of every
role and playbook, as Ansible would run them; a second task that writes the
same file (a `replace` in a playbook beside the role's `template`, a second
`pg_basebackup`) fails here with the names of both."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
WRITERS = {'template', 'copy', 'replace', 'lineinfile', 'blockinfile', 'ini_file'}


def _tasks(node):
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers'):
            if key in node:
                yield from _tasks(node[key])


def _all_tasks():
    files = sorted(ROOT.glob('roles/*/tasks/**/*.yml')) + sorted(ROOT.glob('roles/*/handlers/*.yml')) \
        + sorted(ROOT.glob('playbooks/**/*.yml'))
    assert len(files) > 20, files
    for path in files:
        for task in _tasks(yaml.safe_load(path.read_text())):
            yield path.relative_to(ROOT), task


def _module_args(task):
    for key, value in task.items():
        if isinstance(value, dict) and key.split('.')[-1] in WRITERS | {'command', 'shell'}:
            yield key.split('.')[-1], value


def _writers_of(pattern):
    found = []
    for path, task in _all_tasks():
        for module, args in _module_args(task):
            if module in WRITERS and re.search(pattern, str(args.get('dest') or args.get('path') or '')):
                found.append(f'{path}: {task.get("name")}')
    return found


@pytest.mark.parametrize('pattern', [
    r'pgbouncer\.ini',
    r'standby\.signal',
    r'90-odoo-scale-follow\.conf',
    r'__postgresql_pgpass|/\.pgpass',
    r'^\{\{ __pgbackrest_conf \}\}$|/pgbackrest\.conf$',
    r'odoo\.conf|odoo_layout\.conf|__odoo_conf\b',
])
def test_each_shared_file_has_one_writing_task(pattern):
    writers = _writers_of(pattern)
    assert len(writers) == 1, f'{pattern} is written by {len(writers)} tasks: {writers}'


def test_pg_basebackup_runs_from_one_task():
    runs = [f'{path}: {task.get("name")}' for path, task in _all_tasks()
            for module, args in _module_args(task) if module in ('command', 'shell')
            and 'pg_basebackup' in str(args.get('argv') or args.get('cmd') or '')]
    assert len(runs) == 1, runs


def test_no_playbook_keeps_task_files_of_its_own():
    """Day-2 steps are role entry points (tasks_from), not playbook task files."""
    assert not list(ROOT.glob('playbooks/tasks/*.yml'))
