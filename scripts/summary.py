#!/usr/bin/env python3
"""The closing summary of `make test`: one line per step (state, time, test
counts from its JUnit file when it writes one), the total time, the slowest
three tests, and the closing count `summary: N passed, N failed, N skipped`.

Counts are tests where a step writes JUnit results (.cache/junit/<step>.xml)
and the step itself otherwise (lint, benchmarks, a scenario that failed
before its checks ran). A skipped step or test is counted as skipped, never
as passed. Exits non-zero when anything failed or no step ran."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET

CACHE = '.cache'


def junit(step):
    """(passed, failed, skipped, [(seconds, test id)]) of a step, or None."""
    path = os.path.join(CACHE, 'junit', step + '.xml')
    if not os.path.exists(path):
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return None
    passed = failed = skipped = 0
    times = []
    for case in root.iter('testcase'):
        kinds = {child.tag for child in case}
        if kinds & {'failure', 'error'}:
            failed += 1
        elif 'skipped' in kinds:
            skipped += 1
        else:
            passed += 1
        name = '%s::%s' % (case.get('classname', '').rsplit('.', 1)[-1], case.get('name'))
        times.append((float(case.get('time') or 0), step, name))
    return passed, failed, skipped, times


def fmt(secs):
    return '%dm %02ds' % divmod(int(secs), 60)


def main():
    path = os.path.join(CACHE, 'summary')
    if not os.path.exists(path) or not os.path.getsize(path):
        print('summary: no test step ran')
        return 1
    stages = {}   # what a step timed inside itself: "<step> <stage> <secs>s" lines
    if os.path.exists(os.path.join(CACHE, 'summary-stages')):
        with open(os.path.join(CACHE, 'summary-stages')) as fh:
            for line in fh:
                if len(line.split()) == 3:
                    step, stage, secs = line.split()
                    stages.setdefault(step, []).append((stage, int(secs.rstrip('s'))))
    total_p = total_f = total_s = 0
    total_secs = 0
    slow = []
    print('---------------- odoo-scale test summary ----------------')
    print('%-18s %-8s %9s   %s' % ('step', 'state', 'time', 'tests passed/failed/skipped'))
    with open(path) as fh:
        for line in fh:
            name, state, secs = line.split()
            secs = int(secs.rstrip('s'))
            total_secs += secs
            counts = junit(name)
            if counts:
                p, f, s, times = counts
                slow += times
                if state == 'failed' and f == 0:
                    f = 1            # failed outside its checks (converge, idempotence)
                detail = '%d/%d/%d' % (p, f, s)
            else:
                p, f, s = {'passed': (1, 0, 0), 'skipped': (0, 0, 1)}.get(state, (0, 1, 0))
                detail = '(step)'
            total_p, total_f, total_s = total_p + p, total_f + f, total_s + s
            print('%-18s %-8s %9s   %s' % (name, state, fmt(secs), detail))
            for stage, stage_secs in stages.get(name, []):
                print('  %-16s %8s' % (stage, fmt(stage_secs)))
    wall = os.path.join(CACHE, 'summary-wall')
    if os.path.exists(wall):
        with open(wall) as fh:
            wall_secs = int(fh.read().split()[1].rstrip('s'))
        print('total time: %s wall clock from the first step (the steps add up to %s;'
              ' scripts/test.sh runs some side by side)' % (fmt(wall_secs), fmt(total_secs)))
    else:
        print('total time: %s' % fmt(total_secs))
    slow.sort(reverse=True)
    if slow:
        print('slowest tests:')
        for secs, step, name in slow[:3]:
            print('  %8.1f s  %s  %s' % (secs, step, name))
    print('summary: %d passed, %d failed, %d skipped' % (total_p, total_f, total_s))
    return 1 if total_f or not (total_p or total_s) else 0


if __name__ == '__main__':
    sys.exit(main())
