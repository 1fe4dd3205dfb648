#!/usr/bin/env bash
# Report served certificate details and days to expiry for one or more endpoints.
# Usage:
#   check-cert-expiry.sh [-w WARN_DAYS] host[:port] ...
#   check-cert-expiry.sh [-w WARN_DAYS] -f hosts.txt     (one host[:port] per line, # comments)
# Exit code: 0 all fine, 1 at least one expires within WARN_DAYS, 2 at least one unreachable.
set -euo pipefail

WARN_DAYS=30
FILE=""
while getopts "w:f:" opt; do
  case "$opt" in
    w) WARN_DAYS="$OPTARG" ;;
    f) FILE="$OPTARG" ;;
    *) echo "usage: $0 [-w days] [-f file] host[:port]..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

targets=("$@")
if [[ -n "$FILE" ]]; then
  while IFS= read -r line; do
    line="${line%%#*}"; line="${line//[[:space:]]/}"
    [[ -n "$line" ]] && targets+=("$line")
  done <"$FILE"
fi
[[ ${#targets[@]} -gt 0 ]] || { echo "no targets" >&2; exit 2; }

now=$(date -u +%s)
rc=0
printf '%-40s %-6s %-24s %-10s %s\n' "ENDPOINT" "DAYS" "NOT_AFTER" "SERIAL" "SUBJECT / ISSUER"
for t in "${targets[@]}"; do
  host="${t%%:*}"
  port="${t##*:}"; [[ "$port" == "$t" ]] && port=443

  if ! pem=$(timeout 10 openssl s_client -connect "$host:$port" -servername "$host" </dev/null 2>/dev/null \
             | openssl x509 2>/dev/null); then
    printf '%-40s %-6s %s\n' "$host:$port" "ERR" "no certificate (connection or handshake failed)"
    rc=2; continue
  fi

  not_after=$(openssl x509 -noout -enddate <<<"$pem" | cut -d= -f2)
  serial=$(openssl x509 -noout -serial <<<"$pem" | cut -d= -f2)
  subject=$(openssl x509 -noout -subject -nameopt RFC2253 <<<"$pem" | sed 's/^subject=//')
  issuer=$(openssl x509 -noout -issuer -nameopt RFC2253 <<<"$pem" | sed 's/^issuer=//')
  end_epoch=$(date -u -d "$not_after" +%s)
  days=$(( (end_epoch - now) / 86400 ))

  flag=""
  if (( end_epoch <= now )); then flag=" EXPIRED"; [[ $rc -lt 1 ]] && rc=1
  elif (( days < WARN_DAYS )); then flag=" WARN"; [[ $rc -lt 1 ]] && rc=1
  fi

  printf '%-40s %-6s %-24s %-10s %s | %s%s\n' "$host:$port" "$days" \
    "$(date -u -d "$not_after" +%FT%TZ)" "${serial:0:10}" "$subject" "$issuer" "$flag"
done
exit "$rc"
