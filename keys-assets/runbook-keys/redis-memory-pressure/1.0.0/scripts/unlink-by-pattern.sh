#!/usr/bin/env bash
# Delete keys matching a pattern with SCAN + UNLINK in rate-limited batches.
# DRY RUN by default: counts matches and shows examples.
# Usage: unlink-by-pattern.sh [-h host] [-p port] [-n db] --pattern 'prefix:*' [--batch 500] [--sleep 0.1] [--apply]
# Refuses patterns that match everything ('*', '**').
set -euo pipefail

HOST=127.0.0.1; PORT=6379; DB=0; PATTERN=""; BATCH=500; PAUSE=0.1; APPLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h) HOST="$2"; shift 2 ;;
    -p) PORT="$2"; shift 2 ;;
    -n) DB="$2"; shift 2 ;;
    --pattern) PATTERN="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --sleep) PAUSE="$2"; shift 2 ;;
    --apply) APPLY=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$PATTERN" ]] || { echo "--pattern is required" >&2; exit 2; }
[[ "$PATTERN" =~ ^\*+$ ]] && { echo "refusing to match every key; use FLUSHDB ASYNC deliberately if that is what you want" >&2; exit 2; }

read -r -a EXTRA <<<"${REDIS_CLI_OPTS:-}"
rc() { redis-cli -h "$HOST" -p "$PORT" -n "$DB" ${EXTRA[@]+"${EXTRA[@]}"} "$@"; }

role=$(rc INFO replication | tr -d '\r' | awk -F: '$1=="role" {print $2}')
[[ "$role" == "master" ]] || { echo "$HOST:$PORT is a $role; run against the primary" >&2; exit 1; }

TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
before=$(rc INFO memory | tr -d '\r' | awk -F: '$1=="used_memory" {print $2}')

if [[ "$APPLY" -eq 0 ]]; then
  rc --scan --pattern "$PATTERN" >"$TMP/keys"
  echo "DRY RUN: $(wc -l <"$TMP/keys") keys match '$PATTERN' in db $DB on $HOST:$PORT. Examples:"
  head -5 "$TMP/keys" | sed 's/^/  /'
  echo "Re-run with --apply to UNLINK them in batches of $BATCH."
  exit 0
fi

deleted=0
rc --scan --pattern "$PATTERN" | split -l "$BATCH" - "$TMP/batch."
for f in "$TMP"/batch.*; do
  [[ -e "$f" ]] || continue
  n=$(sed 's/\\/\\\\/g; s/"/\\"/g; s/.*/"&"/' "$f" | paste -sd' ' | sed 's/^/UNLINK /' | rc)
  deleted=$((deleted + n))
  printf '\runlinked %d keys' "$deleted"
  sleep "$PAUSE"
done
echo
after=$(rc INFO memory | tr -d '\r' | awk -F: '$1=="used_memory" {print $2}')
echo "used_memory: $(numfmt --to=iec "$before") -> $(numfmt --to=iec "$after") (lazy free may take a few seconds)"
