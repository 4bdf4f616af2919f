"""The health report's filters (plugins/filter/odoo_scale_health.py): the
window checks, the grades against their targets, N+1 lines as the
odoo_scale_sql_shapes module writes them matched with pg_stat_statements'
text, systemd's memory accounting, and a hostile statement or path that
must come out as text, never as markup."""

from __future__ import annotations

import os
import re
import sys

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'plugins', 'filter'))
import odoo_scale_health as health  # noqa: E402

LINE = ('2026-12-03 03:00:00,123 4242 WARNING odoo odoo.addons.odoo_scale_sql_shapes: N+1 suspect: 40 calls of one '
        'statement in POST /web/dataset/call_kw/ir.actions.server/run (52 queries): '
        'SELECT name FROM res_partner WHERE id = %s -- check')


def answer(*results):
    return {'status': 'success', 'data': {'result': list(results)}}


@pytest.mark.parametrize('hours', ['abc', 0, -1, 24 * 91, None])
def test_a_bad_window_is_refused_with_its_name(hours):
    with pytest.raises(AnsibleFilterError, match='health_report_hours'):
        health.health_queries(hours, 'odoo')


def test_the_queries_cover_the_window_in_about_120_points():
    plan = health.health_queries(24, 'odoo')
    assert plan['window'] == 86400 and plan['step'] == 720
    assert '[86400s]' in plan['queries']['latency_window_p90']['query']
    assert plan['queries']['latency_p90']['range'] and not plan['queries']['latency_window_p90']['range']
    # A short window never asks for a step under the scrape interval.
    assert health.health_queries(0.1, 'odoo')['step'] == 15


def test_a_database_name_cannot_break_out_of_its_label():
    q = health.health_queries(1, 'od"oo\\')['queries']['cache_hit']['query']
    assert 'datname="od\\"oo\\\\"' in q


@pytest.mark.parametrize('kind,value,expected', [
    ('latency_p90_seconds', 0.049, 'green'), ('latency_p90_seconds', 0.050, 'amber'),
    ('latency_p90_seconds', 0.100, 'red'), ('cache_hit_ratio', 0.995, 'green'),
    ('cache_hit_ratio', 0.97, 'amber'), ('cache_hit_ratio', 0.5, 'red'),
    ('replica_lag_seconds', None, 'none'), ('redis_memory_use', float('nan'), 'none'),
])
def test_grades_against_their_targets(kind, value, expected):
    assert health.grade(kind, value) == expected


def test_n_plus_one_lines_are_grouped_by_shape_and_matched_with_pg_stat_statements():
    other = LINE.replace('40 calls', '90 calls').replace('4242', '4243')
    stats = [{'query': 'SELECT name FROM res_partner WHERE id = $1 -- check', 'calls': 130, 'total_ms': 4.5}]
    found = health.n_plus_one({'web1': [LINE, 'unrelated line'], 'web2': [other]}, stats)
    assert len(found) == 1
    s = found[0]
    assert (s['requests'], s['max_calls'], s['hosts'], s['total_calls']) == (2, 90, ['web1', 'web2'], 130)
    assert s['paths'] == ['POST /web/dataset/call_kw/ir.actions.server/run']


def test_a_shape_matches_what_pg_stat_statements_keeps_of_it():
    odoo = 'UPDATE "res_partner" SET "write_date" = %s, "name" = %s WHERE id IN %s'
    pg = 'UPDATE "res_partner" SET "write_date" = $1::timestamp, "name" = $2 WHERE id IN ($3, $4, $5)'
    assert health.statement_key(odoo) == health.statement_key(pg)


def test_systemd_memory_keeps_the_limited_services():
    out = health.systemd_memory({'web1': 'Id=odoo.service\nMemoryCurrent=104857600\nMemoryMax=1073741824\n\n'
                                         'Id=cron.service\nMemoryCurrent=1000\nMemoryMax=infinity\n\n'
                                         'Id=gone.service\nMemoryCurrent=[not set]\nMemoryMax=1000\n'})
    assert out == [{'host': 'web1', 'unit': 'odoo.service', 'memory': 104857600, 'limit': 1073741824}]


def test_the_page_grades_every_section_and_escapes_what_it_shows():
    hostile = '<script>alert(1)</script>'
    data = {
        'hours': 1, 'generated': 'now', 'database': 'odoo',
        'prometheus': {
            'latency_window_p90': answer({'metric': {'route_class': 'web'}, 'value': [0, '0.2']}),
            'requests_window': answer({'metric': {'route_class': 'web', 'code': '2xx'}, 'value': [0, '100']}),
            'latency_p90': answer({'metric': {'route_class': 'web'}, 'values': [[0, '0.01'], [60, '0.2']]}),
            'targets': answer({'metric': {'job': 'node', 'instance': 'a'}, 'value': [0, '1']}),
            'redis_memory': answer({'metric': {'instance': 'svc1'}, 'values': [[0, '0.95']]}),
        },
        'statements': {'slowest': [{'query': hostile, 'calls': 1, 'total_ms': 900, 'mean_ms': 900, 'rows': 1}]},
        'log_lines': {'web1': [LINE.replace('/web/dataset/call_kw/ir.actions.server/run', '/x' + hostile.replace(' ', ''))]},
        'services': {'web1': 'Id=odoo.service\nMemoryCurrent=950\nMemoryMax=1000\n'},
    }
    report = health.health_report(data)
    assert '<script>' not in report['html'] and '&lt;script&gt;' in report['html']
    assert report['sections']['requests'] == 'red'          # P90 200 ms against 50 ms
    assert report['sections']['redis'] == 'red'             # 95 % of maxmemory
    assert report['sections']['services'] == 'red'          # 95 % of MemoryMax
    assert report['sections']['statements'] == 'red'        # 900 ms mean
    assert report['sections']['targets'] == 'green'
    assert report['sections']['backups'] == 'red'           # none found
    assert report['sections']['replica_lag'] == 'none'      # no data: shown as such, never green
    assert report['grade'] == 'red'
    assert re.search(r'^health: RED', report['text'])
    assert len(report['text'].splitlines()) == 1 + len(report['sections'])
    # Self-contained: nothing loaded from anywhere (the svg namespace is a name, not a fetch).
    assert not re.search(r'\b(src|href)="(?!#)', report['html']) and '@import' not in report['html']


def test_table_bloat_is_graded_only_where_it_weighs():
    base = {'hours': 1, 'generated': 'now', 'database': 'odoo'}
    big = {'schema': 'public', 'name': 'mail_message', 'size': 200 << 20, 'bloat_size': 180 << 20,
           'bloat_percent': 90.0, 'unreliable': False}
    small = dict(big, name='res_lang', size=2 << 20, bloat_size=1 << 20)
    assert health.health_report(dict(base, table_bloat=[big]))['sections']['indexes'] == 'red'
    assert health.health_report(dict(base, table_bloat=[small]))['sections']['indexes'] == 'green'
    assert health.health_report(dict(base, table_bloat=[dict(big, unreliable=True)]))['sections']['indexes'] == 'green'
    assert health.health_report(dict(base, table_bloat=[dict(big, bloat_percent=50.0)]))['sections']['indexes'] == 'amber'


def test_the_last_restore_drill_is_graded_by_its_result_and_age():
    day = 86400
    base = {'hours': 1, 'generated': 'now', 'database': 'odoo', 'now_epoch': 100 * day, 'drill_max_age_days': 8}
    passed = {'epoch': 99 * day, 'ok': True, 'host': 'pg2', 'label': '20261203-125638F', 'recovery_seconds': 23.2,
              'tables': [{'name': 'ir_model_data', 'rows': 5808}], 'attachments': {'checked': 3, 'ok': 3}}

    def drill(**kw):
        report = health.health_report(dict(base, **kw))
        line = [t for t in report['text'].splitlines() if 'Restore drill:' in t][0]
        return report['sections']['restore_drill'], line
    assert drill() == ('amber', 'AMBER  Restore drill: never run (playbooks/restore_drill.yml)')
    assert drill(restore_drill=passed) == (
        'green', 'GREEN  Restore drill: last run 1.0 days ago on pg2: backup 20261203-125638F restored in 23.2 s, '
        '1 tables counted, 3 of 3 attachments read back intact')
    assert drill(restore_drill=dict(passed, epoch=91 * day))[0] == 'amber'          # 9 days old
    grade, line = drill(restore_drill=dict(passed, ok=False, reason='pgBackRest: FormatError'))
    assert grade == 'red' and line.endswith('FAILED: pgBackRest: FormatError'), line
    assert health.health_report(dict(base, restore_drill=dict(passed, ok=False)))['grade'] == 'red'


def test_a_report_needs_a_dict():
    with pytest.raises(AnsibleFilterError, match='dict'):
        health.health_report('nope')
