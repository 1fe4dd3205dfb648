#!/usr/bin/env bash
# Promote a PostgreSQL physical standby after verifying the old primary is fenced.
#
# Usage:
#   promote-replica.sh --replica HOST --old-primary HOST [--port 5432] [--user postgres] [--yes]
#
# Environment:
#   MAX_REPLAY_GAP_BYTES  refuse if receive-replay gap exceeds this (default 16777216)
#   ALLOW_REPLAY_GAP=1    override the gap check (you accept a longer promotion)
#   ALLOW_PRIMARY_ALIVE=1 override the fencing check (DANGEROUS; split-brain risk)
set -euo pipefail

REPLICA=""; OLD_PRIMARY=""; PORT=5432; PGUSER_ARG=postgres; ASSUME_YES=0
MAX_REPLAY_GAP_BYTES="${MAX_REPLAY_GAP_BYTES:-16777216}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --replica) REPLICA="$2"; shift 2 ;;
    --old-primary) OLD_PRIMARY="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --user) PGUSER_ARG="$2"; shift 2 ;;
    --yes) ASSUME_YES=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$REPLICA" && -n "$OLD_PRIMARY" ]] || { echo "need --replica and --old-primary" >&2; exit 2; }

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }
q()   { psql -h "$REPLICA" -p "$PORT" -U "$PGUSER_ARG" -d postgres -X -v ON_ERROR_STOP=1 -Atc "$1"; }

# 1. Fencing check: the old primary must not answer.
if pg_isready -h "$OLD_PRIMARY" -p "$PORT" -t 3 >/dev/null 2>&1; then
  if [[ "${ALLOW_PRIMARY_ALIVE:-0}" != "1" ]]; then
    log "ABORT: old primary $OLD_PRIMARY:$PORT still accepts connections. Fence it first."
    exit 1
  fi
  log "WARNING: old primary is alive and ALLOW_PRIMARY_ALIVE=1 is set. Split-brain risk accepted."
else
  log "ok: old primary $OLD_PRIMARY:$PORT does not accept connections"
fi

# 2. Target must be a standby.
if [[ "$(q 'SELECT pg_is_in_recovery()')" != "t" ]]; then
  log "ABORT: $REPLICA is not in recovery (already promoted?)"
  exit 1
fi

# 3. Replay must have caught up with what was received.
gap=$(q "SELECT COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint")
last_xact=$(q "SELECT COALESCE(pg_last_xact_replay_timestamp()::text, 'unknown')")
timeline_before=$(q "SELECT timeline_id FROM pg_control_checkpoint()")
log "replica=$REPLICA replay_gap_bytes=$gap last_replayed_xact=$last_xact timeline=$timeline_before"
if (( gap > MAX_REPLAY_GAP_BYTES )) && [[ "${ALLOW_REPLAY_GAP:-0}" != "1" ]]; then
  log "ABORT: replay gap $gap > $MAX_REPLAY_GAP_BYTES bytes. Wait for replay or set ALLOW_REPLAY_GAP=1."
  exit 1
fi

if [[ "$(q 'SELECT pg_is_wal_replay_paused()')" == "t" ]]; then
  log "replay is paused; resuming so promotion includes all received WAL"
  q "SELECT pg_wal_replay_resume()" >/dev/null
fi

# 4. Confirm.
if [[ "$ASSUME_YES" -ne 1 ]]; then
  read -r -p "Promote $REPLICA now? Type the hostname to confirm: " answer
  [[ "$answer" == "$REPLICA" ]] || { log "aborted by operator"; exit 1; }
fi

# 5. Promote and wait up to 60 s.
log "promoting $REPLICA"
promoted=$(q "SELECT pg_promote(wait => true, wait_seconds => 60)")
if [[ "$promoted" != "t" ]]; then
  log "ERROR: pg_promote() returned '$promoted' — check the server log on $REPLICA"
  exit 1
fi

# 6. Verify.
for _ in $(seq 1 30); do
  [[ "$(q 'SELECT pg_is_in_recovery()')" == "f" ]] && break
  sleep 1
done
[[ "$(q 'SELECT pg_is_in_recovery()')" == "f" ]] || { log "ERROR: still in recovery after 30 s"; exit 1; }

q "CHECKPOINT" >/dev/null
timeline_after=$(q "SELECT timeline_id FROM pg_control_checkpoint()")
log "done: $REPLICA is primary; timeline $timeline_before -> $timeline_after"
log "next: repoint clients, repoint other standbys, run check-replication.sh --primary"
