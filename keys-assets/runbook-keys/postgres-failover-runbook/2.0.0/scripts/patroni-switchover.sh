#!/usr/bin/env bash
# Planned switchover or emergency failover for a Patroni-managed cluster.
# Never use pg_promote() by hand under Patroni: the leader lock in the DCS decides.
#
# Usage:
#   patroni-switchover.sh status
#   patroni-switchover.sh switchover --candidate NODE [--scheduled "2026-05-01T02:00+00:00"]
#   patroni-switchover.sh failover   --candidate NODE     # leader is down
#   patroni-switchover.sh pause|resume                    # maintenance mode
# Environment: PATRONI_CONFIG (default /etc/patroni/patroni.yml)
set -euo pipefail

CONFIG="${PATRONI_CONFIG:-/etc/patroni/patroni.yml}"
ACTION="${1:-status}"; shift || true
CANDIDATE=""; SCHEDULED=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --candidate) CANDIDATE="$2"; shift 2 ;;
    --scheduled) SCHEDULED="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

pctl() { patronictl -c "$CONFIG" "$@"; }
log() { printf '%s %s\n' "$(date -u +%FT%TZ)" "$*"; }

members_json() { pctl list -f json; }

leader() { members_json | jq -r '.[] | select(.Role == "Leader") | .Member'; }

check_candidate() {
  local row
  row=$(members_json | jq -c --arg c "$CANDIDATE" '.[] | select(.Member == $c)')
  [[ -n "$row" ]] || { log "ABORT: $CANDIDATE is not a cluster member"; exit 1; }
  local state lag
  state=$(jq -r '.State' <<<"$row")
  lag=$(jq -r '."Lag in MB" // 0' <<<"$row")
  log "candidate=$CANDIDATE state=$state lag_mb=$lag"
  [[ "$state" == "streaming" || "$state" == "running" ]] || { log "ABORT: candidate state is $state"; exit 1; }
  if [[ "$lag" != "0" && "$lag" != "null" ]]; then
    log "WARNING: candidate lags by ${lag} MB"
  fi
}

case "$ACTION" in
  status)
    pctl list
    pctl history | tail -n 5
    ;;
  switchover)
    [[ -n "$CANDIDATE" ]] || { echo "switchover needs --candidate" >&2; exit 2; }
    current=$(leader)
    [[ -n "$current" ]] || { log "ABORT: no leader; use 'failover' instead"; exit 1; }
    check_candidate
    args=(switchover --leader "$current" --candidate "$CANDIDATE" --force)
    [[ -n "$SCHEDULED" ]] && args+=(--scheduled "$SCHEDULED")
    log "switchover $current -> $CANDIDATE ${SCHEDULED:+at $SCHEDULED}"
    pctl "${args[@]}"
    ;;
  failover)
    [[ -n "$CANDIDATE" ]] || { echo "failover needs --candidate" >&2; exit 2; }
    check_candidate
    log "failover to $CANDIDATE (current leader: $(leader || true))"
    pctl failover --candidate "$CANDIDATE" --force
    ;;
  pause)  pctl pause --wait ;;
  resume) pctl resume --wait ;;
  *) echo "unknown action: $ACTION" >&2; exit 2 ;;
esac

if [[ "$ACTION" == "switchover" || "$ACTION" == "failover" ]] && [[ -z "$SCHEDULED" ]]; then
  for _ in $(seq 1 30); do
    [[ "$(leader)" == "$CANDIDATE" ]] && break
    sleep 2
  done
  pctl list
  [[ "$(leader)" == "$CANDIDATE" ]] || { log "ERROR: $CANDIDATE did not become leader within 60 s"; exit 1; }
  log "done: leader is $CANDIDATE"
fi
