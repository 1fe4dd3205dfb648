#!/usr/bin/env bash
# Fence the old primary, then promote a PostgreSQL physical standby.
#
# Usage:
#   promote-replica.sh --replica HOST --old-primary HOST --fence-method METHOD [options]
#
# Fence methods (required since 2.0.0):
#   ssh-stop   ssh to the old primary, stop and mask $PG_SERVICE
#   aws-stop   force-stop the EC2 instance given with --instance-id and wait for "stopped"
#   manual     you fenced it yourself (power off / network isolation); you must type FENCED
#
# Options: --port 5432 --user postgres --instance-id i-... --yes
# Environment:
#   PG_SERVICE            systemd unit on the old primary (default postgresql)
#   MAX_REPLAY_GAP_BYTES  refuse if receive-replay gap exceeds this (default 16777216)
#   ALLOW_REPLAY_GAP=1    override the gap check
set -euo pipefail

REPLICA=""; OLD_PRIMARY=""; PORT=5432; PGUSER_ARG=postgres; ASSUME_YES=0
FENCE=""; INSTANCE_ID=""
PG_SERVICE="${PG_SERVICE:-postgresql}"
MAX_REPLAY_GAP_BYTES="${MAX_REPLAY_GAP_BYTES:-16777216}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --replica) REPLICA="$2"; shift 2 ;;
    --old-primary) OLD_PRIMARY="$2"; shift 2 ;;
    --fence-method) FENCE="$2"; shift 2 ;;
    --instance-id) INSTANCE_ID="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --user) PGUSER_ARG="$2"; shift 2 ;;
    --yes) ASSUME_YES=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$REPLICA" && -n "$OLD_PRIMARY" ]] || { echo "need --replica and --old-primary" >&2; exit 2; }
case "$FENCE" in
  ssh-stop|manual) ;;
  aws-stop) [[ -n "$INSTANCE_ID" ]] || { echo "aws-stop needs --instance-id" >&2; exit 2; } ;;
  *) echo "--fence-method must be ssh-stop, aws-stop or manual" >&2; exit 2 ;;
esac

log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }
q()   { psql -h "$REPLICA" -p "$PORT" -U "$PGUSER_ARG" -d postgres -X -v ON_ERROR_STOP=1 -Atc "$1"; }

# 1. Pre-checks on the candidate before touching anything.
if [[ "$(q 'SELECT pg_is_in_recovery()')" != "t" ]]; then
  log "ABORT: $REPLICA is not in recovery (already promoted?)"; exit 1
fi
gap=$(q "SELECT COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint")
last_xact=$(q "SELECT COALESCE(pg_last_xact_replay_timestamp()::text, 'unknown')")
timeline_before=$(q "SELECT timeline_id FROM pg_control_checkpoint()")
log "replica=$REPLICA replay_gap_bytes=$gap last_replayed_xact=$last_xact timeline=$timeline_before"
if (( gap > MAX_REPLAY_GAP_BYTES )) && [[ "${ALLOW_REPLAY_GAP:-0}" != "1" ]]; then
  log "ABORT: replay gap $gap > $MAX_REPLAY_GAP_BYTES bytes. Wait or set ALLOW_REPLAY_GAP=1."; exit 1
fi

if [[ "$ASSUME_YES" -ne 1 ]]; then
  read -r -p "Fence $OLD_PRIMARY ($FENCE) and promote $REPLICA? Type the replica hostname: " answer
  [[ "$answer" == "$REPLICA" ]] || { log "aborted by operator"; exit 1; }
fi

# 2. Fence.
case "$FENCE" in
  ssh-stop)
    log "fencing via ssh: stop + mask $PG_SERVICE on $OLD_PRIMARY"
    ssh -o ConnectTimeout=10 -o BatchMode=yes "$OLD_PRIMARY" \
      "sudo systemctl stop '$PG_SERVICE' && sudo systemctl mask '$PG_SERVICE'" \
      || { log "ABORT: ssh fencing failed; use aws-stop or manual fencing"; exit 1; }
    ;;
  aws-stop)
    log "fencing via EC2: force-stopping $INSTANCE_ID"
    aws ec2 stop-instances --instance-ids "$INSTANCE_ID" --force --output text >/dev/null
    aws ec2 wait instance-stopped --instance-ids "$INSTANCE_ID"
    log "instance $INSTANCE_ID is stopped"
    ;;
  manual)
    read -r -p "Confirm $OLD_PRIMARY is powered off or isolated. Type FENCED: " answer
    [[ "$answer" == "FENCED" ]] || { log "aborted: fencing not confirmed"; exit 1; }
    ;;
esac

# 3. Verify the fence actually holds.
if pg_isready -h "$OLD_PRIMARY" -p "$PORT" -t 3 >/dev/null 2>&1; then
  log "ABORT: $OLD_PRIMARY:$PORT still accepts connections after fencing"; exit 1
fi
log "ok: old primary no longer accepts connections"

# 4. Promote.
if [[ "$(q 'SELECT pg_is_wal_replay_paused()')" == "t" ]]; then
  q "SELECT pg_wal_replay_resume()" >/dev/null
fi
log "promoting $REPLICA"
[[ "$(q 'SELECT pg_promote(wait => true, wait_seconds => 60)')" == "t" ]] \
  || { log "ERROR: pg_promote() did not complete within 60 s; check the server log"; exit 1; }

for _ in $(seq 1 30); do
  [[ "$(q 'SELECT pg_is_in_recovery()')" == "f" ]] && break
  sleep 1
done
[[ "$(q 'SELECT pg_is_in_recovery()')" == "f" ]] || { log "ERROR: still in recovery after 30 s"; exit 1; }

q "CHECKPOINT" >/dev/null
timeline_after=$(q "SELECT timeline_id FROM pg_control_checkpoint()")
log "done: $REPLICA is primary; timeline $timeline_before -> $timeline_after"
log "next: pgbouncer-repoint.sh, repoint other standbys, check-replication.sh --primary"
