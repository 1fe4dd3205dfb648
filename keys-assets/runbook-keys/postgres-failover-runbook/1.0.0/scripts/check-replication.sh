#!/usr/bin/env bash
# Show replication health from the primary or a standby.
# Usage: check-replication.sh --primary|--standby [-h host] [-p port] [-U user]
# Connection defaults follow libpq env vars (PGHOST, PGPORT, PGUSER, PGDATABASE).
set -euo pipefail

MODE=""
PSQL_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --primary) MODE=primary; shift ;;
    --standby) MODE=standby; shift ;;
    -h|-p|-U|-d) PSQL_ARGS+=("$1" "$2"); shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

psql_q() { psql ${PSQL_ARGS[@]+"${PSQL_ARGS[@]}"} -X -v ON_ERROR_STOP=1 -P pager=off "$@"; }

in_recovery=$(psql_q -Atc "SELECT pg_is_in_recovery()")
if [[ -z "$MODE" ]]; then
  MODE=$([[ "$in_recovery" == "t" ]] && echo standby || echo primary)
fi

echo "== $(date -u +%FT%TZ) mode=$MODE in_recovery=$in_recovery"
psql_q -Atc "SELECT 'server_version=' || current_setting('server_version') || ' timeline=' || timeline_id FROM pg_control_checkpoint()"

if [[ "$MODE" == "primary" ]]; then
  if [[ "$in_recovery" == "t" ]]; then
    echo "WARNING: --primary requested but this server is in recovery" >&2
  fi
  echo "-- connected standbys"
  psql_q -c "
    SELECT application_name,
           client_addr,
           state,
           sync_state,
           pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn))   AS send_gap,
           pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)) AS replay_gap,
           write_lag, flush_lag, replay_lag
    FROM pg_stat_replication
    ORDER BY application_name;"
  echo "-- replication slots (inactive slots retain WAL and can fill the disk)"
  psql_q -c "
    SELECT slot_name, slot_type, active,
           pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS retained_wal
    FROM pg_replication_slots
    ORDER BY pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) DESC NULLS LAST;"
  echo "-- archiver"
  psql_q -c "SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal, last_failed_time FROM pg_stat_archiver;"
else
  if [[ "$in_recovery" != "t" ]]; then
    echo "WARNING: --standby requested but this server is NOT in recovery (already a primary?)" >&2
  fi
  psql_q -c "
    SELECT pg_last_wal_receive_lsn()                                   AS receive_lsn,
           pg_last_wal_replay_lsn()                                    AS replay_lsn,
           pg_size_pretty(pg_wal_lsn_diff(pg_last_wal_receive_lsn(),
                                          pg_last_wal_replay_lsn()))   AS replay_backlog,
           pg_last_xact_replay_timestamp()                             AS last_replayed_xact,
           now() - pg_last_xact_replay_timestamp()                     AS replay_delay,
           pg_is_wal_replay_paused()                                   AS replay_paused;"
  echo "-- WAL receiver"
  psql_q -c "SELECT status, sender_host, sender_port, slot_name, latest_end_lsn, latest_end_time FROM pg_stat_wal_receiver;"
fi
