#!/usr/bin/env bash
# Summarise PagerDuty incidents for an on-call shift: count, out-of-hours pages,
# MTTA / MTTR, and the noisiest services and alerts. Output is markdown for the handoff note.
# Requires a read-only REST API key: export PAGERDUTY_TOKEN=...
# Usage: shift-report.sh [--since 2026-05-04T09:00:00Z] [--until now] [--team-id PXXXXXX] [--tz Europe/Berlin]
set -euo pipefail

SINCE=$(date -u -d '-7 days' +%FT%TZ); UNTIL=$(date -u +%FT%TZ); TEAM=""; TZNAME="${TZ:-UTC}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --since) SINCE=$(date -u -d "$2" +%FT%TZ); shift 2 ;;
    --until) UNTIL=$(date -u -d "$2" +%FT%TZ); shift 2 ;;
    --team-id) TEAM="$2"; shift 2 ;;
    --tz) TZNAME="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
: "${PAGERDUTY_TOKEN:?export PAGERDUTY_TOKEN (read-only REST API key)}"

TMP=$(mktemp); LOG=$(mktemp); trap 'rm -f "$TMP" "$LOG"' EXIT

pd_get() {   # pd_get PATH JQ_ARRAY_FIELD OUTFILE [extra --data-urlencode args...]
  local path="$1" field="$2" out="$3"; shift 3
  local offset=0 page
  while :; do
    page=$(curl -fsS -G "https://api.pagerduty.com/$path" \
      --data-urlencode "since=$SINCE" --data-urlencode "until=$UNTIL" \
      --data-urlencode "limit=100" --data-urlencode "offset=$offset" --data-urlencode "time_zone=UTC" "$@" \
      -H "Authorization: Token token=$PAGERDUTY_TOKEN" \
      -H "Accept: application/vnd.pagerduty+json;version=2")
    jq -c ".${field}[]" <<<"$page" >>"$out"
    [[ "$(jq -r .more <<<"$page")" == "true" ]] || break
    offset=$((offset + 100))
  done
}

team_args=()
if [[ -n "$TEAM" ]]; then team_args=(--data-urlencode "team_ids[]=$TEAM"); fi
pd_get incidents incidents "$TMP" ${team_args[@]+"${team_args[@]}"}
# Overview log entries give the first acknowledgement time even after an incident is resolved.
pd_get log_entries log_entries "$LOG" --data-urlencode "is_overview=true" ${team_args[@]+"${team_args[@]}"}

total=$(wc -l <"$TMP")
echo "## On-call report $(date -d "$SINCE" +%F) → $(date -d "$UNTIL" +%F)"
echo
if [[ "$total" -eq 0 ]]; then echo "No incidents in this window."; exit 0; fi

# Out-of-hours = before 09:00, after 18:00, or weekend in the team's time zone.
ooh=0
while read -r created; do
  h=$(TZ="$TZNAME" date -d "$created" +%H); d=$(TZ="$TZNAME" date -d "$created" +%u)
  if (( 10#$h < 9 || 10#$h >= 18 || d >= 6 )); then ooh=$((ooh + 1)); fi
done < <(jq -r '.created_at' "$TMP")

stats=$(jq -s --slurpfile logs "$LOG" '
  def secs(a; b): ((b | fromdateiso8601) - (a | fromdateiso8601));
  ($logs | map(select(.type == "acknowledge_log_entry"))
         | group_by(.incident.id) | map({key: .[0].incident.id, value: (map(.created_at) | min)}) | from_entries) as $ack
  | {
      high: map(select(.urgency == "high")) | length,
      resolved: map(select(.status == "resolved")) | length,
      mtta: ([.[] | select($ack[.id] != null) | secs(.created_at; $ack[.id])]
             | if length > 0 then (add / length / 60 | floor) else null end),
      mttr: ([.[] | select(.status == "resolved") | secs(.created_at; .last_status_change_at)]
             | if length > 0 then (add / length / 60 | floor) else null end)
    }' "$TMP")

cat <<MD
| Metric | Value |
|--------|-------|
| Incidents | $total ($(jq .high <<<"$stats") high urgency) |
| Out of hours ($TZNAME) | $ooh |
| Resolved | $(jq .resolved <<<"$stats") |
| Mean time to acknowledge | $(jq -r '.mtta // "n/a"' <<<"$stats") min |
| Mean time to resolve | $(jq -r '.mttr // "n/a"' <<<"$stats") min |

### By service

| Service | Incidents |
|---------|-----------|
MD
jq -rs 'group_by(.service.summary) | map({s: .[0].service.summary, n: length}) | sort_by(-.n) | .[] | "| \(.s) | \(.n) |"' "$TMP"

echo
echo "### Most frequent titles (candidates for tuning)"
echo
echo "| Title | Count |"
echo "|-------|-------|"
jq -rs 'group_by(.title) | map({t: .[0].title, n: length}) | sort_by(-.n) | .[:10][] | "| \(.t | gsub("\\|"; "/")) | \(.n) |"' "$TMP"

echo
echo "### Still open"
echo
jq -r 'select(.status != "resolved") | "- [\(.status)] \(.title) — \(.html_url)"' "$TMP" | grep . || echo "- none"
