# -*- coding: utf-8 -*-
"""The health report of playbooks/health_report.yml: which Prometheus queries
it asks, and how the answers, the statement statistics, the index report,
the partition catalog, the N+1 suspects from Odoo's log and the services'
memory become one self-contained HTML page (inline SVG, no external asset)
and a short text summary. Every figure is graded green, amber or red
against its target (TARGETS); the page's grade is the worst of them.

Kept as filters, with unit tests, so the playbook only gathers: nothing
here talks to a host."""

from __future__ import annotations

import datetime
import html
import math
import re

from ansible.errors import AnsibleFilterError

ROUTE_CLASSES = ('web', 'rpc', 'assets', 'websocket', 'health')
GRADED_CLASSES = ('web', 'rpc')    # the 50 ms P90 target is for pages and RPC
QUANTILES = (('p50', 0.5), ('p90', 0.9), ('p99', 0.99))
GRADES = ('green', 'amber', 'red')
COLOURS = {'green': '#1a7f37', 'amber': '#b7791f', 'red': '#c62828', 'none': '#6b7280'}
PALETTE = ('#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#65a30d', '#dc2626')

# Targets: (amber from, red from) for figures where higher is worse;
# "min" targets (hit ratios) grade the other way.
TARGETS = {
    'latency_p90_seconds': (0.050, 0.100),   # the studies' target: P90 under 50 ms
    'replica_lag_seconds': (1.0, 5.0),
    'cache_hit_ratio': ('min', 0.99, 0.95),
    'index_hit_ratio': ('min', 0.99, 0.95),
    'pool_use': (0.7, 0.9),
    'pool_wait_seconds': (0.1, 5.0),
    'redis_memory_use': (0.7, 0.9),
    'service_memory_use': (0.7, 0.9),
    'statement_mean_ms': (50.0, 500.0),
    'backup_age_hours': (24.0, 26.0),
    'http_5xx_ratio': (0.001, 0.05),
}
# Table bloat is graded only where it weighs: at least this many bytes.
BLOAT_GRADED_BYTES = 8 << 20
BLOAT_PERCENT = (40.0, 70.0)


def grade(kind, value):
    """green/amber/red of one figure against TARGETS[kind]; 'none' without a value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 'none'
    spec = TARGETS[kind]
    if spec[0] == 'min':
        _direction, green_from, amber_from = spec
        return 'green' if value >= green_from else 'amber' if value >= amber_from else 'red'
    amber_from, red_from = spec
    return 'green' if value < amber_from else 'amber' if value < red_from else 'red'


def worst(grades):
    ranked = [g for g in grades if g in GRADES]
    return max(ranked, key=GRADES.index) if ranked else 'none'


def _duration(hours):
    try:
        hours = float(hours)
    except (TypeError, ValueError):
        raise AnsibleFilterError('health_report_hours must be a number of hours, got %r' % (hours,))
    if not 0 < hours <= 24 * 90:
        raise AnsibleFilterError('health_report_hours must be above 0 and at most 2160 (90 days), got %r' % (hours,))
    return int(round(hours * 3600))


def health_queries(hours, database, points=120):
    """PromQL of the report: {name: {'query', 'range': bool}} plus the step.

    Range queries draw the charts (about `points` points over the window);
    instant queries give the figures over the whole window."""
    window = _duration(hours)
    step = max(15, window // int(points))
    rate = '%ds' % max(60, 2 * step)
    whole = '%ds' % window
    db = str(database).replace('\\', '\\\\').replace('"', '\\"')
    q = {}
    for name, quantile in QUANTILES:
        q['latency_' + name] = dict(range=True, query=(
            'histogram_quantile(%s, sum by (le, route_class) (rate(odoo_http_request_duration_seconds_bucket[%s])))'
            % (quantile, rate)))
        q['latency_window_' + name] = dict(range=False, query=(
            'histogram_quantile(%s, sum by (le, route_class) (increase(odoo_http_request_duration_seconds_bucket[%s])))'
            % (quantile, whole)))
    q['requests_window'] = dict(range=False, query=(
        'sum by (route_class, code) (increase(odoo_http_requests_total[%s]))' % whole))
    q['request_rate'] = dict(range=True, query='sum by (route_class) (rate(odoo_http_requests_total[%s]))' % rate)
    q['n_plus_one_window'] = dict(range=False, query=(
        'sum by (route_class) (increase(odoo_sql_repeated_statement_requests_total[%s]))' % whole))
    q['replica_lag'] = dict(range=True, query='max by (instance) (odoo_scale_pg_replica_replay_lag_seconds)')
    hit = 'sum by (instance) (rate(pg_stat_database_blks_hit{datname="%s"}[%s]))' % (db, rate)
    read = 'sum by (instance) (rate(pg_stat_database_blks_read{datname="%s"}[%s]))' % (db, rate)
    q['cache_hit'] = dict(range=True, query='%s / ((%s + %s) > 0)' % (hit, hit, read))
    q['pool_use'] = dict(range=True, query=(
        'sum by (instance, database) (pgbouncer_pools_server_active_connections)'
        ' / on (instance, database) (max by (instance, database) (pgbouncer_databases_pool_size) > 0)'))
    q['pool_wait'] = dict(range=True, query='max by (instance, database) (pgbouncer_pools_client_maxwait_seconds)')
    q['redis_memory'] = dict(range=True, query='redis_memory_used_bytes / (redis_memory_max_bytes > 0)')
    q['backup_age'] = dict(range=False, query='time() - max by (stanza, type) (pgbackrest_last_backup_timestamp_seconds)')
    q['archive_failing'] = dict(range=False, query='max by (instance) (odoo_scale_pg_archiver_failing)')
    q['archive_age'] = dict(range=False, query=(
        'max by (instance) (odoo_scale_pg_archiver_seconds_since_last_archived)'
        ' and on (instance) (odoo_scale_pg_role_in_recovery == 0)'))
    # A target gone since a restart of Prometheus lingers in `up` for 5 min: only fresh samples.
    q['targets'] = dict(range=False, query='up and on (job, instance) (time() - timestamp(up) < 120)')
    return dict(queries=q, step=step, window=window)


# --- reading Prometheus' answers ----------------------------------------------------

def _result(raw, name):
    """The result list of one answer (a uri task's json), [] when absent or failed."""
    answer = (raw or {}).get(name) or {}
    if answer.get('status') != 'success':
        return []
    return (answer.get('data') or {}).get('result') or []


def _float(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) or math.isinf(value) else value


def _label(metric, keys):
    parts = [str(metric.get(k)) for k in keys if metric.get(k) not in (None, '')]
    return ' '.join(parts) or 'all'


def _series(raw, name, keys):
    """[(label, [(t, v), ...])] of a range answer, NaN points dropped."""
    out = []
    for item in _result(raw, name):
        points = [(float(t), _float(v)) for t, v in item.get('values', [])]
        points = [(t, v) for t, v in points if v is not None]
        if points:
            out.append((_label(item.get('metric', {}), keys), points))
    return sorted(out)


def _instant(raw, name, keys):
    """{label: value} of an instant answer."""
    out = {}
    for item in _result(raw, name):
        value = _float((item.get('value') or [None, None])[1])
        if value is not None:
            out[_label(item.get('metric', {}), keys)] = value
    return out


# --- drawing ------------------------------------------------------------------------

def _fmt(value, unit):
    if value is None:
        return 'n/a'
    if unit == 's':
        return '%.0f ms' % (value * 1000) if value < 1 else '%.2f s' % value
    if unit == 'ratio':
        return '%.1f %%' % (value * 100)
    if unit == 'bytes':
        for size, suffix in ((1 << 30, 'GB'), (1 << 20, 'MB'), (1 << 10, 'kB')):
            if value >= size:
                return '%.1f %s' % (value / size, suffix)
        return '%d B' % value
    if unit == 'req/s':
        return '%.1f req/s' % value
    return '%g' % value


def svg_chart(series, unit, target=None, width=720, height=220):
    """An inline SVG line chart of [(label, [(t, v)])], with a dashed target line."""
    e = html.escape
    if not series:
        return '<p class="empty">no data in the window</p>'
    ts = [t for _label, pts in series for t, _value in pts]
    vs = [v for _label, pts in series for _time, v in pts]
    t0, t1 = min(ts), max(ts)
    top = max(vs + ([target] if target is not None else []))
    top = top * 1.1 if top > 0 else 1.0
    left, right, upper, lower = 70, 10, 10, 40
    w, h = width - left - right, height - upper - lower

    def x(t):
        return left + (w * (t - t0) / (t1 - t0) if t1 > t0 else w / 2)

    def y(v):
        return upper + h - h * v / top

    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">' % (width, height),
             '<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#d1d5db"/>' % (left, upper, w, h)]
    for i in range(5):
        v = top * i / 4
        parts.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>' % (left - 4, y(v) + 3, e(_fmt(v, unit))))
    for t in (t0, (t0 + t1) / 2, t1):
        stamp = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime('%H:%M')
        parts.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>' % (x(t), upper + h + 14, stamp))
    if target is not None:
        parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#c62828" stroke-dasharray="4 3"/>'
                     % (left, left + w, y(target), y(target)))
        parts.append('<text x="%d" y="%.1f" font-size="10" fill="#c62828" text-anchor="end">target %s</text>'
                     % (left + w - 2, y(target) - 3, e(_fmt(target, unit))))
    for i, (label, pts) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        path = ' '.join('%.1f,%.1f' % (x(t), y(v)) for t, v in pts)
        parts.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colour, path))
        parts.append('<text x="%d" y="%d" font-size="10" fill="%s">%s</text>'
                     % (left + 6 + 130 * (i % 5), upper + h + 28 + 12 * (i // 5), colour, e(label)))
    parts.append('</svg>')
    return ''.join(parts)


# --- the report ---------------------------------------------------------------------

_PLACEHOLDER = re.compile(r'\((?:\$\d+(?:::[a-z_]+)?(?:, *)?)+\)|\$\d+(?:::[a-z_]+)?|%s|%\([^)]*\)s')


def statement_key(text):
    """A statement's shape as both sides write it: Odoo's %s and
    pg_stat_statements' $1 become ?, whitespace and case folded."""
    return ' '.join(_PLACEHOLDER.sub('?', str(text)).split()).lower()


N_PLUS_ONE_LINE = re.compile(
    r'^(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\S* \d+ WARNING \S+ odoo\.addons\.odoo_scale_sql_shapes: '
    r'N\+1 suspect: (?P<calls>\d+) calls of one statement in (?P<method>\S+) (?P<path>\S+) '
    r'\((?P<queries>\d+) queries\): (?P<shape>.*)$')


def n_plus_one(lines, statements=()):
    """N+1 suspects from Odoo log lines (odoo_scale_sql_shapes), one entry per
    statement shape: requests flagged, most calls in one request, paths, and
    the statement's totals from pg_stat_statements when its shape matches
    (rows with `shape`: matched by the playbook in SQL; rows with `query`:
    pg_stat_statements' text, matched here with $n and %s alike).

    `lines` is {host: [line]} or [(host, line)]."""
    by_key = {statement_key(s.get('query', '')): s for s in statements or () if s.get('query')}
    by_shape = {s.get('shape'): s for s in statements or () if s.get('shape')}
    if isinstance(lines, dict):
        lines = [(host, line) for host, host_lines in sorted(lines.items()) for line in host_lines or []]
    found = {}
    for host, line in lines:
        m = N_PLUS_ONE_LINE.match(line.strip())
        if not m:
            continue
        entry = found.setdefault(m['shape'], dict(shape=m['shape'], requests=0, max_calls=0, paths=set(), hosts=set(),
                                                  last=m['stamp']))
        entry['requests'] += 1
        entry['max_calls'] = max(entry['max_calls'], int(m['calls']))
        entry['paths'].add('%s %s' % (m['method'], m['path']))
        entry['hosts'].add(host)
        entry['last'] = max(entry['last'], m['stamp'])
    out = []
    for entry in found.values():
        stat = by_shape.get(entry['shape']) or by_key.get(statement_key(entry['shape']))
        if stat is None:   # the log keeps 400 characters of the shape
            key = statement_key(entry['shape'])
            stat = next((s for k, s in by_key.items() if k.startswith(key) or key.startswith(k)), None)
        entry.update(paths=sorted(entry['paths']), hosts=sorted(entry['hosts']),
                     total_calls=stat.get('calls') if stat else None,
                     total_ms=stat.get('total_ms') if stat else None)
        out.append(entry)
    return sorted(out, key=lambda e: (-e['requests'] * e['max_calls'], e['shape']))


def systemd_memory(outputs):
    """[{host, unit, memory, limit}] of the services with a memory limit, from
    {host: `systemctl show -p Id,MemoryCurrent,MemoryMax unit...` output}."""
    out = []
    for host, text in sorted((outputs or {}).items()):
        for block in str(text or '').split('\n\n'):
            props = dict(line.split('=', 1) for line in block.splitlines() if '=' in line)
            limit, used = props.get('MemoryMax', ''), props.get('MemoryCurrent', '')
            if props.get('Id') and limit.isdigit() and used.isdigit():
                out.append(dict(host=host, unit=props['Id'], memory=int(used), limit=int(limit)))
    return out


def _table(headers, rows):
    e = html.escape
    head = ''.join('<th>%s</th>' % e(h) for h in headers)
    body = ''.join('<tr>%s</tr>' % ''.join(c if str(c).startswith('<td') else '<td>%s</td>' % e(str(c)) for c in row)
                   for row in rows)
    return '<table><tr>%s</tr>%s</table>' % (head, body) if rows else '<p class="empty">none</p>'


def _dot(g, text=''):
    return '<td><span class="dot %s"></span>%s</td>' % (g, html.escape(text))


def health_report(data):
    """{'html', 'text', 'grade', 'sections': {name: grade}} from what the playbook gathered:

    data.hours, data.generated (ISO text), data.database, data.prometheus ({query name: answer json}),
    data.statements ({slowest: [...], most_called: [...]}, rows with query, calls, total_ms, mean_ms, rows;
    shapes: [{shape, calls, total_ms}] of the N+1 shapes found in pg_stat_statements),
    data.index_hit_ratio (float or None), data.index_report (pg_index_report's report or None),
    data.partitions ([{parent, partitions, default_rows, has_default, last_bound}]),
    data.table_bloat ([{schema, name, size, bloat_size, bloat_percent, unreliable}], roles/exporters/files/table_bloat.sql),
    data.log_lines ({host: [odoo_scale_sql_shapes lines]}), data.services ({host: `systemctl show
    -p Id,MemoryCurrent,MemoryMax` output})."""
    if not isinstance(data, dict):
        raise AnsibleFilterError('health_report expects a dict, got %s' % type(data).__name__)
    e = html.escape
    raw = data.get('prometheus') or {}
    sections = []   # (key, title, grade, html, [summary lines])

    # Requests.
    window = {name: _instant(raw, 'latency_window_' + name, ['route_class']) for name, _q in QUANTILES}
    requests = _instant(raw, 'requests_window', ['route_class', 'code'])
    total = sum(requests.values())
    errors = sum(v for k, v in requests.items() if k.endswith('5xx'))
    ratio_5xx = errors / total if total else None
    rows, grades, lines = [], [], []
    for cls in ROUTE_CLASSES:
        count = sum(v for k, v in requests.items() if k.split(' ')[0] == cls)
        p90 = window['p90'].get(cls)
        g = grade('latency_p90_seconds', p90) if cls in GRADED_CLASSES and count else 'none'
        grades.append(g)
        rows.append([cls, '%d' % round(count)] + [_fmt(window[n].get(cls), 's') for n, _q in QUANTILES]
                    + [_dot(g, 'target 50 ms' if cls in GRADED_CLASSES else 'not graded')])
        if cls in GRADED_CLASSES and count:
            lines.append('%s P90 %s over %d requests' % (cls, _fmt(p90, 's'), round(count)))
    g5 = grade('http_5xx_ratio', ratio_5xx) if total else 'none'
    grades.append(g5)
    body = _table(['route class', 'requests', 'P50', 'P90', 'P99', 'grade'], rows)
    body += '<p><span class="dot %s"></span>5xx: %d of %d requests (%s)</p>' % (g5, errors, total, _fmt(ratio_5xx, 'ratio'))
    for name, _q in QUANTILES:
        body += '<h3>%s by route class</h3>' % name.upper() + svg_chart(
            _series(raw, 'latency_' + name, ['route_class']), 's', target=0.05 if name == 'p90' else None)
    body += '<h3>Requests per second</h3>' + svg_chart(_series(raw, 'request_rate', ['route_class']), 'req/s')
    sections.append(('requests', 'Request latency (Odoo, by route class)', worst(grades) if total else 'none', body, lines))

    # Statements and N+1 suspects.
    statements = data.get('statements') or {}
    suspects = n_plus_one(data.get('log_lines') or [], (statements.get('shapes') or []) + (statements.get('slowest') or [])
                          + (statements.get('most_called') or []))
    flagged = _instant(raw, 'n_plus_one_window', ['route_class'])
    rows = [[_dot('amber', '%d requests' % s['requests']), s['max_calls'], ', '.join(s['paths'][:3]), ', '.join(s['hosts']),
             '' if s['total_calls'] is None else s['total_calls'], s['shape']] for s in suspects]
    body = ('<p>Requests that ran one statement shape %s times or more (odoo_scale_sql_shapes), '
            'flagged in the window by the exporters: %d.</p>' % ('sql_shape_warn_count', round(sum(flagged.values()))))
    body += _table(['requests', 'most calls in one request', 'paths', 'hosts', 'calls (pg_stat_statements)', 'statement'], rows)
    srows, sgrades = [], []
    for s in statements.get('slowest') or []:
        g = grade('statement_mean_ms', _float(s.get('mean_ms')))
        sgrades.append(g)
        srows.append([_dot(g, '%.1f ms mean' % (_float(s.get('mean_ms')) or 0)), '%.0f' % (_float(s.get('total_ms')) or 0),
                      s.get('calls'), s.get('rows'), s.get('query', '')])
    body += '<h3>Slowest statements (total time)</h3>' + _table(['mean', 'total ms', 'calls', 'rows', 'statement'], srows)
    crows = [[s.get('calls'), '%.2f' % (_float(s.get('mean_ms')) or 0), s.get('rows'), s.get('query', '')]
             for s in statements.get('most_called') or []]
    body += '<h3>Most called statements</h3>' + _table(['calls', 'mean ms', 'rows', 'statement'], crows)
    worst_suspect = (': worst %d calls in one request of %s' % (suspects[0]['max_calls'], suspects[0]['paths'][0])
                     if suspects else '')
    lines = ['%d N+1 suspect statement(s)%s' % (len(suspects), worst_suspect)]
    if srows:
        top = (statements.get('slowest') or [])[0]
        lines.append('slowest statement: %.0f ms in total over %s calls' % (_float(top.get('total_ms')) or 0, top.get('calls')))
    g = worst(sgrades + (['amber'] if suspects else ['green']))
    sections.append(('statements', 'Statements (pg_stat_statements) and N+1 suspects', g, body, lines))

    def chart_section(key, title, query, keys, unit, kind, target, fmt_unit=None, agg=max):
        series = _series(raw, query, keys)
        latest = {label: pts[-1][1] for label, pts in series}
        peak = agg([v for _label, pts in series for _time, v in pts]) if series else None
        g = grade(kind, peak)
        body = '<p><span class="dot %s"></span>%s in the window: %s; now: %s</p>' % (
            g, 'worst' if agg is max else 'lowest', _fmt(peak, fmt_unit or unit),
            e(', '.join('%s %s' % (k, _fmt(v, fmt_unit or unit)) for k, v in sorted(latest.items())) or 'n/a'))
        body += svg_chart(series, unit, target=target)
        return (key, title, g, body, ['%s %s' % ('worst' if agg is max else 'lowest', _fmt(peak, fmt_unit or unit))])

    sections.append(chart_section('replica_lag', 'Replica lag', 'replica_lag', ['instance'], 's', 'replica_lag_seconds', 1.0))
    key, title, g, body, lines = chart_section('cache_hit', 'Cache hit ratio', 'cache_hit', ['instance'], 'ratio',
                                               'cache_hit_ratio', 0.99, agg=min)
    ihr = _float(data.get('index_hit_ratio'))
    gi = grade('index_hit_ratio', ihr)
    body += '<p><span class="dot %s"></span>Index hit ratio of %s (since statistics reset): %s</p>' % (
        gi, e(str(data.get('database', ''))), _fmt(ihr, 'ratio'))
    sections.append((key, 'Cache and index hit ratios', worst([g, gi]), body,
                     ['cache ' + lines[0], 'index hit ratio %s' % _fmt(ihr, 'ratio')]))
    pool = chart_section('pool_use', 'PgBouncer pool use', 'pool_use', ['instance', 'database'], 'ratio', 'pool_use', 0.9)
    wait = chart_section('pool_wait', 'PgBouncer longest client wait', 'pool_wait', ['instance', 'database'], 's',
                         'pool_wait_seconds', 5.0)
    sections.append(('pool', 'PgBouncer pools: use and waits', worst([pool[2], wait[2]]),
                     pool[3] + '<h3>Longest wait of a client</h3>' + wait[3],
                     ['use ' + pool[4][0], 'wait ' + wait[4][0]]))
    sections.append(chart_section('redis', 'Redis memory of maxmemory', 'redis_memory', ['instance'], 'ratio',
                                  'redis_memory_use', 0.9))

    # Services' memory against their limits.
    rows, grades = [], []
    for svc in systemd_memory(data.get('services')):
        used, limit = _float(svc.get('memory')), _float(svc.get('limit'))
        use = used / limit if used is not None and limit else None
        g = grade('service_memory_use', use)
        grades.append(g)
        rows.append([svc.get('host'), svc.get('unit'), _fmt(used, 'bytes'), _fmt(limit, 'bytes'), _dot(g, _fmt(use, 'ratio'))])
    sections.append(('services', 'Memory of every service against its limit', worst(grades), _table(
        ['host', 'unit', 'memory', 'MemoryMax', 'use'], rows),
        ['%d services with a memory limit' % len(rows) if rows else 'no service with a memory limit found']))

    # Index report and partitions.
    report = data.get('index_report') or {}
    counts = {k: len(report.get(k) or []) for k in ('invalid', 'duplicate', 'overlapping', 'unused', 'bloat')}
    g = ('none' if not report else 'red' if counts['invalid']
         else 'amber' if counts['duplicate'] or counts['unused'] or counts['bloat'] else 'green')
    body = _table(['invalid', 'duplicate', 'overlapping', 'unused', 'bloated'], [[counts[k] for k in counts]] if report else [])
    for kind in ('invalid', 'duplicate', 'unused', 'bloat'):
        items = report.get(kind) or []
        if items:
            body += '<h3>%s</h3>' % kind + _table(['index'], [[_index_name(i)] for i in items[:30]])
    prow, pgrades = [], []
    for p in data.get('partitions') or []:
        pg = 'amber' if (p.get('default_rows') or 0) > 0 else 'green'
        pgrades.append(pg)
        prow.append([p.get('parent'), p.get('partitions'), p.get('last_bound') or '', _dot(pg, '%s rows in default' % p.get('default_rows'))])
    body += '<h3>Partitioned tables</h3>' + _table(['table', 'partitions', 'newest bound', 'default partition'], prow)
    brows, bgrades = [], []
    for t in data.get('table_bloat') or []:
        size, percent = _float(t.get('bloat_size')) or 0, _float(t.get('bloat_percent')) or 0
        bg = ('green' if size < BLOAT_GRADED_BYTES or t.get('unreliable') else
              'red' if percent >= BLOAT_PERCENT[1] else 'amber' if percent >= BLOAT_PERCENT[0] else 'green')
        bgrades.append(bg)
        brows.append(['%s.%s' % (t.get('schema'), t.get('name')), _fmt(_float(t.get('size')), 'bytes'), _fmt(size, 'bytes'),
                      _dot(bg, '%.0f %%%s' % (percent, ' (estimate unreliable: columns without statistics)'
                                                       if t.get('unreliable') else ''))])
    body += '<h3>Table bloat (estimated from the statistics)</h3>' + _table(['table', 'size', 'bloat', 'bloat share'], brows)
    worst_bloat = max(data.get('table_bloat') or [], key=lambda t: _float(t.get('bloat_size')) or 0, default=None)
    sections.append(('indexes', 'Index report, table bloat and partitions', worst([g] + pgrades + bgrades), body,
                     ['indexes: %s; %d partitioned tables' % (', '.join('%d %s' % (v, k) for k, v in counts.items()), len(prow)),
                      'most bloated table: %s' % ('%s.%s %s' % (worst_bloat['schema'], worst_bloat['name'],
                                                                _fmt(_float(worst_bloat.get('bloat_size')), 'bytes'))
                                                  if worst_bloat else 'n/a')]))

    # Backups.
    ages = _instant(raw, 'backup_age', ['stanza', 'type'])
    failing = _instant(raw, 'archive_failing', ['instance'])
    archive_age = _instant(raw, 'archive_age', ['instance'])
    newest = min(ages.values()) / 3600 if ages else None
    g = grade('backup_age_hours', newest) if ages else 'red'
    if any(v >= 1 for v in failing.values()):
        g = 'red'
    rows = [[k, _fmt(v, 's') if v < 3600 else '%.1f h' % (v / 3600)] for k, v in sorted(ages.items())]
    body = _table(['stanza and type', 'age of the last backup'], rows)
    body += '<p>WAL archiving: %s; seconds since the last segment was archived: %s</p>' % (
        e(', '.join('%s %s' % (k, 'FAILING' if v >= 1 else 'ok') for k, v in sorted(failing.items())) or 'n/a'),
        e(', '.join('%s %.0f' % (k, v) for k, v in sorted(archive_age.items())) or 'n/a'))
    newest_text = 'n/a (none found)' if newest is None else '{:.1f} h'.format(newest)
    sections.append(('backups', 'Backups (pgBackRest)', g, body, ['newest backup %s old' % newest_text]))

    # The last restore drill (playbooks/restore_drill.yml's local fact).
    drill = data.get('restore_drill') or {}
    if not drill:
        g, line = 'amber', 'never run (playbooks/restore_drill.yml)'
    else:
        days = (float(data.get('now_epoch') or 0) - float(drill.get('epoch') or 0)) / 86400
        if not drill.get('ok'):
            g, detail = 'red', 'FAILED: %s' % drill.get('reason', '')
        else:
            g = 'amber' if days > float(data.get('drill_max_age_days') or 8) else 'green'
            attachments = drill.get('attachments') or {}
            detail = 'backup %s restored in %s s, %d tables counted, %d of %d attachments read back intact' % (
                drill.get('label'), drill.get('recovery_seconds'), len(drill.get('tables') or []),
                attachments.get('ok', 0), attachments.get('checked', 0))
        line = 'last run %.1f days ago on %s: %s' % (days, drill.get('host'), detail)
    sections.append(('restore_drill', 'Restore drill', g, '<p>%s</p>' % e(line), [line]))

    # Targets.
    up = _instant(raw, 'targets', ['job', 'instance'])
    down = sorted(k for k, v in up.items() if v < 1)
    g = 'none' if not up else 'red' if down else 'green'
    sections.append(('targets', 'Prometheus targets', g, '<p>%d targets, down: %s</p>' % (len(up), e(', '.join(down) or 'none')),
                     ['%d of %d targets up' % (len(up) - len(down), len(up))]))

    overall = worst(s[2] for s in sections)
    generated = e(str(data.get('generated', '')))
    toc = ''.join('<li><span class="dot %s"></span><a href="#%s">%s</a></li>' % (g, k, e(t)) for k, t, g, _body, _lines in sections)
    page = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>odoo-scale health report</title><style>',
            'body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;margin:.5em 0}'
            'td,th{border:1px solid #d1d5db;padding:3px 6px;font-size:12px;text-align:left;vertical-align:top;max-width:60em;'
            'word-break:break-word}.dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.4em}'
            + ''.join('.dot.%s{background:%s}' % (k, v) for k, v in COLOURS.items())
            + '.empty{color:#6b7280}section{margin-bottom:2em}',
            '</style></head><body>',
            '<h1><span class="dot %s"></span>odoo-scale health report</h1>' % overall,
            '<p>Database %s; the last %s hours up to %s.</p>' % (e(str(data.get('database', ''))), e(str(data.get('hours'))), generated),
            '<ul id="sections">%s</ul>' % toc]
    for key, title, g, body, _lines in sections:
        page.append('<section id="%s" data-grade="%s"><h2><span class="dot %s"></span>%s</h2>%s</section>'
                    % (key, g, g, e(title), body))
    page.append('</body></html>')
    text = ['health: %s (%s hours up to %s)' % (overall.upper(), data.get('hours'), data.get('generated', ''))]
    for key, title, g, _body, lines in sections:
        text.append('%-6s %s: %s' % (g.upper(), title, '; '.join(lines)))
    return dict(html='\n'.join(page) + '\n', text='\n'.join(text) + '\n', grade=overall,
                sections={k: g for k, _title, g, _body, _lines in sections}, n_plus_one=suspects)


def _index_name(item):
    if isinstance(item, dict):
        for key in ('index', 'name', 'indexes'):
            if item.get(key):
                value = item[key]
                return ', '.join(value) if isinstance(value, list) else str(value)
    return str(item)


class FilterModule(object):
    def filters(self):
        return {
            'odoo_scale_health_queries': health_queries,
            'odoo_scale_health_report': health_report,
        }
