-- Post-restore sanity checks, run by restore-drill.sh against the scratch database.
-- Optional psql variables: freshness_table, freshness_column (e.g. public.orders / created_at).
-- Fails (ON_ERROR_STOP) when a hard check does not hold.
\set QUIET on
\pset footer off
\pset border 2

\echo '== database size'
SELECT current_database() AS database, pg_size_pretty(pg_database_size(current_database())) AS size;

\echo '== tables per schema'
SELECT n.nspname AS schema, count(*) AS tables
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
GROUP BY n.nspname ORDER BY n.nspname;

\echo '== 20 largest tables'
SELECT c.oid::regclass AS table_name,
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total_size,
       c.reltuples::bigint AS estimated_rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY pg_total_relation_size(c.oid) DESC
LIMIT 20;

\echo '== hard check: at least one user table exists'
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  ) THEN
    RAISE EXCEPTION 'restored database has no user tables';
  END IF;
END $$;

\echo '== hard check: no invalid indexes'
DO $$
DECLARE bad text;
BEGIN
  SELECT string_agg(indexrelid::regclass::text, ', ') INTO bad FROM pg_index WHERE NOT indisvalid;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'invalid indexes after restore: %', bad;
  END IF;
END $$;

\echo '== constraints left NOT VALID (should be empty after a clean restore)'
SELECT conrelid::regclass AS table_name, conname
FROM pg_constraint WHERE NOT convalidated;

\echo '== sequences and their last values (pg_restore restores them; compare with max(id) if inserts fail later)'
SELECT s.seqrelid::regclass AS sequence, d.refobjid::regclass AS table_name, a.attname AS column_name,
       pg_sequence_last_value(s.seqrelid) AS last_value
FROM pg_sequence s
JOIN pg_depend d ON d.objid = s.seqrelid AND d.deptype IN ('a', 'i') AND d.classid = 'pg_class'::regclass
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
ORDER BY 1
LIMIT 50;

\if :{?freshness_table}
\echo '== freshness: newest value of' :freshness_table '.' :freshness_column
SELECT max(:"freshness_column") AS newest,
       now() - max(:"freshness_column") AS age
FROM :freshness_table;
\endif

\echo '== exact row counts of the 10 largest tables'
SELECT format('SELECT %L AS table_name, count(*) AS rows FROM %s', c.oid::regclass, c.oid::regclass)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY pg_total_relation_size(c.oid) DESC
LIMIT 10
\gexec

\echo '== sanity checks complete'
