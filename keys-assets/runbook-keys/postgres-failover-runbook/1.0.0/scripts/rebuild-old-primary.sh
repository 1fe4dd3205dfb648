#!/usr/bin/env bash
# Rebuild a failed former primary as a standby of the new primary.
# Run ON the old primary host as the postgres OS user, with the service stopped.
#
# Usage: rebuild-old-primary.sh --new-primary HOST [--pgdata DIR] [--repl-user replicator] [--basebackup]
#   Default strategy is pg_rewind (fast; needs wal_log_hints=on or data checksums).
#   --basebackup wipes PGDATA and copies it fresh with pg_basebackup.
# The replication password must come from ~/.pgpass, never from the command line.
set -euo pipefail

NEW_PRIMARY=""; PGDATA="${PGDATA:-}"; REPL_USER=replicator; STRATEGY=rewind; PORT=5432
while [[ $# -gt 0 ]]; do
  case "$1" in
    --new-primary) NEW_PRIMARY="$2"; shift 2 ;;
    --pgdata) PGDATA="$2"; shift 2 ;;
    --repl-user) REPL_USER="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --basebackup) STRATEGY=basebackup; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$NEW_PRIMARY" && -n "$PGDATA" ]] || { echo "need --new-primary and --pgdata (or PGDATA)" >&2; exit 2; }
[[ "$(id -un)" == "postgres" ]] || { echo "run as the postgres OS user" >&2; exit 2; }

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }

if pg_ctl -D "$PGDATA" status >/dev/null 2>&1; then
  log "ABORT: PostgreSQL is running on $PGDATA; stop it first"
  exit 1
fi

pg_isready -h "$NEW_PRIMARY" -p "$PORT" -t 5 || { log "ABORT: new primary not reachable"; exit 1; }

SLOT="$(hostname -s | tr '[:upper:]-' '[:lower:]_')"
SLOT_OK=1
log "ensuring physical replication slot '$SLOT' exists on $NEW_PRIMARY"
if ! psql -h "$NEW_PRIMARY" -p "$PORT" -U "$REPL_USER" -d postgres -X -v ON_ERROR_STOP=1 -Atc \
  "SELECT pg_create_physical_replication_slot('$SLOT') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT')" >/dev/null; then
  log "warning: could not create slot (role needs REPLICATION or superuser); continuing without a slot"
  SLOT_OK=0
fi

SRC="host=$NEW_PRIMARY port=$PORT user=$REPL_USER dbname=postgres application_name=$SLOT"

if [[ "$STRATEGY" == "rewind" ]]; then
  log "running pg_rewind (dry run first)"
  if pg_rewind --target-pgdata="$PGDATA" --source-server="$SRC" --dry-run --progress; then
    pg_rewind --target-pgdata="$PGDATA" --source-server="$SRC" --write-recovery-conf --progress
  else
    log "pg_rewind dry run failed (wal_log_hints off or WAL missing). Re-run with --basebackup."
    exit 1
  fi
else
  backup_dir="${PGDATA}.pre-rebuild.$(date -u +%Y%m%dT%H%M%SZ)"
  log "moving old data directory aside to $backup_dir"
  mv "$PGDATA" "$backup_dir"
  install -d -m 0700 "$PGDATA"
  pg_basebackup -h "$NEW_PRIMARY" -p "$PORT" -U "$REPL_USER" -D "$PGDATA" \
    --wal-method=stream --write-recovery-conf --checkpoint=fast --progress --verbose
  log "old data kept at $backup_dir; delete it once the standby is healthy"
fi

# Make sure the standby uses its slot and follows the latest timeline.
echo "recovery_target_timeline = 'latest'" >> "$PGDATA/postgresql.auto.conf"
if [[ "$SLOT_OK" -eq 1 ]]; then
  echo "primary_slot_name = '$SLOT'" >> "$PGDATA/postgresql.auto.conf"
fi
touch "$PGDATA/standby.signal"

log "rebuild complete. Next (as root):"
log "  systemctl unmask <pg-service> && systemctl start <pg-service>"
log "  then on $NEW_PRIMARY: check-replication.sh --primary"
