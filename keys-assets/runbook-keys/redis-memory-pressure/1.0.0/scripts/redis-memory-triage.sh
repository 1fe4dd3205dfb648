#!/usr/bin/env bash
# One-shot Redis memory report. Read-only (INFO, CONFIG GET, CLIENT LIST, MEMORY DOCTOR).
# Usage: redis-memory-triage.sh [-h host] [-p port] [--scan]
#   --scan  also run redis-cli --memkeys (SCAN-based, adds load; avoid on a struggling primary)
# Auth: export REDISCLI_AUTH. Extra options (TLS, user): REDIS_CLI_OPTS="--tls --user ops".
set -euo pipefail

HOST=127.0.0.1; PORT=6379; SCAN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h) HOST="$2"; shift 2 ;;
    -p) PORT="$2"; shift 2 ;;
    --scan) SCAN=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
read -r -a EXTRA <<<"${REDIS_CLI_OPTS:-}"
rc() { redis-cli -h "$HOST" -p "$PORT" ${EXTRA[@]+"${EXTRA[@]}"} "$@"; }

[[ "$(rc PING)" == "PONG" ]] || { echo "cannot PING $HOST:$PORT" >&2; exit 1; }

info=$(rc INFO all | tr -d '\r')
field() { awk -F: -v k="$1" '$1==k {print $2}' <<<"$info"; }
human() { numfmt --to=iec --suffix=B "${1:-0}"; }

used=$(field used_memory); maxm=$(field maxmemory); rss=$(field used_memory_rss)
echo "== $HOST:$PORT  redis_version=$(field redis_version) role=$(field role) uptime_days=$(field uptime_in_days)"
echo
echo "== memory"
printf '  %-28s %s\n' \
  used_memory "$(human "$used")" \
  used_memory_rss "$(human "$rss")" \
  used_memory_peak "$(human "$(field used_memory_peak)")" \
  maxmemory "$( [[ "$maxm" == 0 ]] && echo 'UNLIMITED (0)' || human "$maxm")" \
  maxmemory_policy "$(field maxmemory_policy)" \
  used_memory_dataset "$(human "$(field used_memory_dataset)") ($(field used_memory_dataset_perc))" \
  mem_clients_normal "$(human "$(field mem_clients_normal)")" \
  mem_clients_slaves "$(human "$(field mem_clients_slaves)")" \
  mem_replication_backlog "$(human "$(field mem_replication_backlog)")" \
  used_memory_scripts "$(human "$(field used_memory_scripts)")" \
  mem_fragmentation_ratio "$(field mem_fragmentation_ratio)" \
  allocator_frag_ratio "$(field allocator_frag_ratio)" \
  total_system_memory "$(human "$(field total_system_memory)")"
if [[ "$maxm" != 0 ]]; then
  echo "  => used/maxmemory: $(( used * 100 / maxm ))%"
fi

echo
echo "== eviction and expiry"
printf '  %-28s %s\n' evicted_keys "$(field evicted_keys)" expired_keys "$(field expired_keys)" \
  keyspace_hits "$(field keyspace_hits)" keyspace_misses "$(field keyspace_misses)"
echo "  keyspace:"
grep -E '^db[0-9]+:' <<<"$info" | sed 's/^/    /' || echo "    (empty)"

echo
echo "== persistence (a running fork can double RSS through copy-on-write)"
printf '  %-28s %s\n' rdb_bgsave_in_progress "$(field rdb_bgsave_in_progress)" \
  aof_enabled "$(field aof_enabled)" aof_rewrite_in_progress "$(field aof_rewrite_in_progress)" \
  latest_fork_usec "$(field latest_fork_usec)" rdb_last_bgsave_status "$(field rdb_last_bgsave_status)"

echo
echo "== config"
rc CONFIG GET maxmemory* | paste - - | sed 's/^/  /'
rc CONFIG GET client-output-buffer-limit | paste - - | sed 's/^/  /'
rc CONFIG GET activedefrag | paste - - | sed 's/^/  /' || true

echo
echo "== clients: $(field connected_clients) connected, $(field blocked_clients) blocked; top 10 by output buffer (omem)"
rc CLIENT LIST | tr -d '\r' | awk '
  {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f["omem"], f["tot-mem"], f["qbuf"], f["id"], f["addr"], f["name"], f["cmd"]
  }' | sort -rn | head -10 \
  | awk -F'\t' 'BEGIN {printf "  %-12s %-12s %-10s %-10s %-22s %-16s %s\n", "OMEM", "TOT-MEM", "QBUF", "ID", "ADDR", "NAME", "CMD"}
                {printf "  %-12s %-12s %-10s %-10s %-22s %-16s %s\n", $1, $2, $3, $4, $5, $6, $7}' || true

echo
echo "== MEMORY DOCTOR"
rc MEMORY DOCTOR | sed 's/^/  /'

if [[ "$SCAN" -eq 1 ]]; then
  echo
  echo "== biggest keys by memory (redis-cli --memkeys, sampled)"
  rc --memkeys --memkeys-samples 64 -i 0.01 | grep -E 'Biggest|found' | sed 's/^/  /'
fi
