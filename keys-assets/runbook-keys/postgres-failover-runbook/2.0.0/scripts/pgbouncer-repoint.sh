#!/usr/bin/env bash
# Repoint a PgBouncer database entry to a new primary with PAUSE/RELOAD/RESUME,
# so clients queue for a few seconds instead of receiving errors.
#
# Usage: pgbouncer-repoint.sh --db appdb --new-host pg-2.internal [--ini /etc/pgbouncer/pgbouncer.ini]
#        [--admin-host 127.0.0.1] [--admin-port 6432] [--admin-user pgbouncer] [--pause-timeout 30]
# Run on each PgBouncer host (as root or the pgbouncer user).
set -euo pipefail

DB=""; NEW_HOST=""; INI=/etc/pgbouncer/pgbouncer.ini
ADMIN_HOST=127.0.0.1; ADMIN_PORT=6432; ADMIN_USER=pgbouncer; PAUSE_TIMEOUT=30
while [[ $# -gt 0 ]]; do
  case "$1" in
    --db) DB="$2"; shift 2 ;;
    --new-host) NEW_HOST="$2"; shift 2 ;;
    --ini) INI="$2"; shift 2 ;;
    --admin-host) ADMIN_HOST="$2"; shift 2 ;;
    --admin-port) ADMIN_PORT="$2"; shift 2 ;;
    --admin-user) ADMIN_USER="$2"; shift 2 ;;
    --pause-timeout) PAUSE_TIMEOUT="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$DB" && -n "$NEW_HOST" ]] || { echo "need --db and --new-host" >&2; exit 2; }
[[ -w "$INI" ]] || { echo "cannot write $INI" >&2; exit 2; }

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }
admin() { psql -h "$ADMIN_HOST" -p "$ADMIN_PORT" -U "$ADMIN_USER" -d pgbouncer -X -Atc "$1"; }

grep -Eq "^[[:space:]]*${DB}[[:space:]]*=" "$INI" || { log "ABORT: no [databases] entry for $DB in $INI"; exit 1; }

backup="${INI}.bak.$(date -u +%Y%m%dT%H%M%SZ)"
cp -p "$INI" "$backup"
log "backup written to $backup"

# Rewrite host= only on the line for this database.
sed -E -i "/^[[:space:]]*${DB}[[:space:]]*=/ s/host=[^[:space:]]+/host=${NEW_HOST}/" "$INI"
grep -E "^[[:space:]]*${DB}[[:space:]]*=" "$INI"

log "PAUSE $DB (waits for in-flight transactions, max ${PAUSE_TIMEOUT}s)"
if ! timeout "$PAUSE_TIMEOUT" psql -h "$ADMIN_HOST" -p "$ADMIN_PORT" -U "$ADMIN_USER" -d pgbouncer -X -Atc "PAUSE $DB;"; then
  log "PAUSE did not finish in ${PAUSE_TIMEOUT}s; long transactions are holding server connections."
  log "Continuing with RELOAD; in-flight transactions on the dead primary are lost anyway."
fi

admin "RELOAD;"
admin "RESUME $DB;" || log "RESUME returned an error (database may not have been paused); ignoring"

log "pool state after repoint:"
admin "SHOW DATABASES;" | awk -F'|' -v db="$DB" '$1==db {print "  name="$1" host="$2" port="$3}'
admin "SHOW POOLS;" | awk -F'|' -v db="$DB" '$1==db {print "  user="$2" cl_active="$3" cl_waiting="$4" sv_active="$5" sv_idle="$6}'
log "verify: psql -h <pgbouncer> -p $ADMIN_PORT -d $DB -c 'SELECT inet_server_addr(), pg_is_in_recovery()'"
