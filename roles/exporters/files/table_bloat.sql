-- Estimated bloat of the tables of the current database, from the planner's
-- statistics only (pg_class, pg_stats): no table is read, no extension is
-- needed, so it is safe on a busy primary. The arithmetic is the one of
-- pgsql-bloat-estimation (ioguix): the size a table would take with its
-- live rows packed at its fillfactor, against the pages it holds. Tables
-- under min_size bytes are left out; run ANALYZE first for fresh figures.
-- Parameters (psycopg2 named): min_size.
WITH cols AS (
  SELECT c.oid, n.nspname AS schema, c.relname AS name, c.reltuples, c.relpages,
         COALESCE(t.relpages, 0) AS toast_pages, COALESCE(t.reltuples, 0) AS toast_tuples,
         COALESCE((regexp_match(array_to_string(c.reloptions, ' '), 'fillfactor=([0-9]+)'))[1]::int, 100) AS fillfactor,
         current_setting('block_size')::numeric AS block,
         CASE WHEN version() ~ 'mingw32|64-bit|x86_64|ppc64|ia64|amd64|aarch64' THEN 8 ELSE 4 END AS align,
         23 + CASE WHEN max(COALESCE(s.null_frac, 0)) > 0 THEN (7 + count(*)) / 8 ELSE 0 END AS header,
         sum((1 - COALESCE(s.null_frac, 0)) * COALESCE(s.avg_width, 1024)) AS data,
         -- columns without statistics (never analyzed, or type name): the estimate is not reliable
         bool_or(a.atttypid = 'pg_catalog.name'::regtype)
           OR count(*) FILTER (WHERE s.attname IS NULL) > 0 AS unreliable
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND NOT s.inherited
                      AND s.attname = a.attname
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_toast' AND c.relpages::numeric * current_setting('block_size')::numeric >= %(min_size)s
  GROUP BY c.oid, n.nspname, c.relname, c.reltuples, c.relpages, t.relpages, t.reltuples, c.reloptions
), sized AS (
  SELECT *, 4 + header + data + 2 * align
            - CASE WHEN mod(header, align) = 0 THEN align ELSE mod(header, align) END
            - CASE WHEN mod(ceil(data)::int, align) = 0 THEN align ELSE mod(ceil(data)::int, align) END AS tuple_size
  FROM cols
), estimated AS (
  SELECT *, relpages + toast_pages AS pages,
         ceil(GREATEST(reltuples, 0) / floor((block - 24) * fillfactor / (tuple_size * 100)))
           + ceil(toast_tuples / 4) AS expected_pages
  FROM sized
)
SELECT schema, name, (pages * block)::bigint AS size,
       GREATEST(((pages - expected_pages) * block)::bigint, 0) AS bloat_size,
       CASE WHEN pages > 0 THEN round(GREATEST(100 * (pages - expected_pages) / pages, 0)::numeric, 1) ELSE 0 END::float
         AS bloat_percent,
       fillfactor, unreliable
FROM estimated
ORDER BY bloat_size DESC, schema, name
LIMIT 30
