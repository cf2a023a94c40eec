#!/bin/sh
# First start of the compose PostgreSQL (docker-entrypoint-initdb.d, run as POSTGRES_USER): the
# logins the app uses, so it never connects as the superuser (#14, docs/architecture.md
# "Privilege model"). The same SQL as README.md, "Read-only console logins".
#   p2p_owner     owns the database and its schema; the app and its migrations log in as it.
#   p2p_readonly  the SQL console: SELECT on the views of schema console only (granted by the
#                 migration 0003_security), read-only, 3 s, 4 MB of work memory, set on the role.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner_pw="$PG_OWNER_PASSWORD" -v readonly_pw="$PG_READONLY_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE p2p_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'owner_pw';
CREATE ROLE p2p_readonly LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT
    CONNECTION LIMIT 20 PASSWORD :'readonly_pw';
ALTER ROLE p2p_readonly SET default_transaction_read_only = on;
ALTER ROLE p2p_readonly SET statement_timeout = '3s';
ALTER ROLE p2p_readonly SET work_mem = '4MB';
ALTER ROLE p2p_readonly SET temp_file_limit = '64MB';
ALTER ROLE p2p_readonly SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE p2p_readonly SET search_path = console;
ALTER DATABASE :"db" OWNER TO p2p_owner;
REVOKE TEMPORARY ON DATABASE :"db" FROM PUBLIC;
ALTER SCHEMA public OWNER TO p2p_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
-- What any role may call by default and the console must not: set_config (its own bounds),
-- advisory locks (outlive the query), large objects, notifications. The owner keeps them.
DO $$
DECLARE fn text;
BEGIN
  FOR fn IN SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = 'pg_catalog'::regnamespace
              AND (p.proname IN ('set_config', 'pg_notify', 'loread', 'lowrite')
                   OR p.proname LIKE '%advisory%' OR p.proname LIKE 'lo\_%')
  LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO p2p_owner', fn);
  END LOOP;
END $$;
SQL
