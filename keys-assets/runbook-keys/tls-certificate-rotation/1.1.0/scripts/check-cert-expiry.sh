#!/usr/bin/env bash
# Report served certificate details and days to expiry for one or more endpoints.
#
# Target syntax:  name[:port][@address]
#   name     SNI / hostname to request and report
#   port     default 443
#   address  connect to this IP/host instead of resolving name (check each LB node or origin)
# Usage:
#   check-cert-expiry.sh [-w WARN_DAYS] [-s STARTTLS_PROTO] [-j] target ...
#   check-cert-expiry.sh [-w WARN_DAYS] -f targets.txt           (one target per line, # comments)
#   -s  smtp | imap | pop3 | ftp | postgres | mysql | ldap ... (openssl s_client -starttls)
#   -j  JSON lines output (one object per target) for pipelines
# Exit code: 0 all fine, 1 at least one expires within WARN_DAYS, 2 at least one unreachable.
set -euo pipefail

WARN_DAYS=30; FILE=""; STARTTLS=""; JSON=0
while getopts "w:f:s:j" opt; do
  case "$opt" in
    w) WARN_DAYS="$OPTARG" ;;
    f) FILE="$OPTARG" ;;
    s) STARTTLS="$OPTARG" ;;
    j) JSON=1 ;;
    *) echo "usage: $0 [-w days] [-s proto] [-j] [-f file] target..." >&2; exit 2 ;;
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

emit_error() {
  if [[ $JSON -eq 1 ]]; then
    jq -cn --arg name "$1" --arg port "$2" --arg addr "$3" \
      '{name:$name, port:($port|tonumber), address:$addr, status:"error", error:"no certificate (connection or handshake failed)"}'
  else
    printf '%-45s %-6s %s\n' "$1:$2${3:+@$3}" "ERR" "no certificate (connection or handshake failed)"
  fi
}

[[ $JSON -eq 1 ]] || printf '%-45s %-6s %-22s %-10s %s\n' "TARGET" "DAYS" "NOT_AFTER" "SERIAL" "SUBJECT | ISSUER | SAN"
for t in "${targets[@]}"; do
  addr=""
  if [[ "$t" == *@* ]]; then addr="${t#*@}"; t="${t%%@*}"; fi
  name="${t%%:*}"
  port="${t##*:}"; [[ "$port" == "$t" ]] && port=443
  connect="${addr:-$name}"

  sc_args=(-connect "$connect:$port" -servername "$name")
  [[ -n "$STARTTLS" ]] && sc_args+=(-starttls "$STARTTLS")

  if ! pem=$(timeout 10 openssl s_client "${sc_args[@]}" </dev/null 2>/dev/null | openssl x509 2>/dev/null); then
    emit_error "$name" "$port" "$addr"; rc=2; continue
  fi

  not_after=$(openssl x509 -noout -enddate <<<"$pem" | cut -d= -f2)
  serial=$(openssl x509 -noout -serial <<<"$pem" | cut -d= -f2)
  subject=$(openssl x509 -noout -subject -nameopt RFC2253 <<<"$pem" | sed 's/^subject=//')
  issuer=$(openssl x509 -noout -issuer -nameopt RFC2253 <<<"$pem" | sed 's/^issuer=//')
  san=$(openssl x509 -noout -ext subjectAltName <<<"$pem" 2>/dev/null | tail -n +2 | tr -d ' ' || true)
  end_epoch=$(date -u -d "$not_after" +%s)
  days=$(( (end_epoch - now) / 86400 ))

  status=ok
  if (( end_epoch <= now )); then status=expired; [[ $rc -lt 1 ]] && rc=1
  elif (( days < WARN_DAYS )); then status=warn; [[ $rc -lt 1 ]] && rc=1
  fi

  if [[ $JSON -eq 1 ]]; then
    jq -cn --arg name "$name" --arg port "$port" --arg addr "$addr" --arg status "$status" \
      --arg not_after "$(date -u -d "$not_after" +%FT%TZ)" --arg days "$days" --arg serial "$serial" \
      --arg subject "$subject" --arg issuer "$issuer" --arg san "$san" \
      '{name:$name, port:($port|tonumber), address:$addr, status:$status, days_left:($days|tonumber),
        not_after:$not_after, serial:$serial, subject:$subject, issuer:$issuer,
        san:($san | split(",") | map(select(length > 0)))}'
  else
    flag=""; [[ "$status" != ok ]] && flag=" ${status^^}"
    printf '%-45s %-6s %-22s %-10s %s | %s | %s%s\n' "$name:$port${addr:+@$addr}" "$days" \
      "$(date -u -d "$not_after" +%FT%TZ)" "${serial:0:10}" "$subject" "$issuer" "$san" "$flag"
  fi
done
exit "$rc"
