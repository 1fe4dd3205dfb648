#!/usr/bin/env bash
# Sample keys with SCAN and report, per prefix: key count, keys without TTL and
# sampled memory. Uses SCAN (non-blocking), TTL and MEMORY USAGE only.
# Usage: find-keys-without-ttl.sh [-h host] [-p port] [-n db] [--pattern '*'] [--sample 10000] [--depth 1]
#   --depth  number of ':'-separated segments that form the prefix (default 1: "session:abc" -> "session")
# Auth: REDISCLI_AUTH; extra options: REDIS_CLI_OPTS.
set -euo pipefail

HOST=127.0.0.1; PORT=6379; DB=0; PATTERN='*'; SAMPLE=10000; DEPTH=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h) HOST="$2"; shift 2 ;;
    -p) PORT="$2"; shift 2 ;;
    -n) DB="$2"; shift 2 ;;
    --pattern) PATTERN="$2"; shift 2 ;;
    --sample) SAMPLE="$2"; shift 2 ;;
    --depth) DEPTH="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
read -r -a EXTRA <<<"${REDIS_CLI_OPTS:-}"
rc() { redis-cli -h "$HOST" -p "$PORT" -n "$DB" ${EXTRA[@]+"${EXTRA[@]}"} "$@"; }

TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

echo "sampling up to $SAMPLE keys matching '$PATTERN' in db $DB on $HOST:$PORT ..." >&2
{ rc --scan --pattern "$PATTERN" || true; } | head -n "$SAMPLE" >"$TMP/keys" || true
total=$(wc -l <"$TMP/keys")
[[ "$total" -gt 0 ]] || { echo "no keys matched"; exit 0; }

# Quote keys for redis-cli's stdin parser: escape backslashes and double quotes.
sed 's/\\/\\\\/g; s/"/\\"/g' "$TMP/keys" >"$TMP/quoted"
sed 's/.*/TTL "&"/' "$TMP/quoted" | rc >"$TMP/ttl"
sed 's/.*/MEMORY USAGE "&"/' "$TMP/quoted" | rc >"$TMP/mem"

dbsize=$(rc DBSIZE)
echo "sampled $total of $dbsize keys"
echo
paste "$TMP/keys" "$TMP/ttl" "$TMP/mem" | awk -F'\t' -v depth="$DEPTH" -v total="$total" -v dbsize="$dbsize" '
  {
    n = split($1, seg, ":")
    p = seg[1]
    for (i = 2; i <= depth && i < n; i++) p = p ":" seg[i]
    if (n == 1) p = "(no prefix)"
    cnt[p]++; mem[p] += $3
    if ($2 == -1) { nottl[p]++; nottlmem[p] += $3 }
  }
  END {
    scale = dbsize / total
    printf "%-32s %9s %9s %12s %12s %14s\n", "PREFIX", "KEYS", "NO_TTL", "SAMPLED_MB", "NO_TTL_MB", "EST_TOTAL_MB"
    for (p in cnt)
      printf "%-32s %9d %9d %12.1f %12.1f %14.1f\n", p, cnt[p], nottl[p], mem[p]/1048576, nottlmem[p]/1048576, mem[p]*scale/1048576
  }' | { read -r header; echo "$header"; sort -k4 -rn; } | head -30

echo
echo "EST_TOTAL_MB extrapolates the sample to DBSIZE; accurate only if --pattern is '*'."
echo "Prefixes with many NO_TTL keys: fix the writer to use SET ... EX / EXPIRE before deleting."
