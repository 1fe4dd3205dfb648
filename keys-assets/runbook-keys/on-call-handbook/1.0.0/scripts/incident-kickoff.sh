#!/usr/bin/env bash
# Create an incident Slack channel, post and pin the kickoff message, invite responders.
# Requires a Slack bot token with scopes: channels:manage, channels:write.topic, chat:write, pins:write,
# users:read, users:read.email
#
# Usage: SLACK_BOT_TOKEN=xoxb-... incident-kickoff.sh --sev 1 --title "Checkout 5xx" \
#          [--ic alice@example.com] [--invite bob@example.com,carol@example.com] \
#          [--announce-channel C0123456789] [--bridge https://meet.example.com/inc]
set -euo pipefail

SEV=""; TITLE=""; IC=""; INVITE=""; ANNOUNCE=""; BRIDGE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sev) SEV="$2"; shift 2 ;;
    --title) TITLE="$2"; shift 2 ;;
    --ic) IC="$2"; shift 2 ;;
    --invite) INVITE="$2"; shift 2 ;;
    --announce-channel) ANNOUNCE="$2"; shift 2 ;;
    --bridge) BRIDGE="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
: "${SLACK_BOT_TOKEN:?export SLACK_BOT_TOKEN}"
[[ "$SEV" =~ ^[1-4]$ && -n "$TITLE" ]] || { echo "need --sev 1-4 and --title" >&2; exit 2; }

slack() {   # slack METHOD JSON
  local resp
  resp=$(curl -fsS -X POST "https://slack.com/api/$1" \
    -H "Authorization: Bearer $SLACK_BOT_TOKEN" \
    -H 'Content-Type: application/json; charset=utf-8' \
    --data "$2")
  if [[ "$(jq -r .ok <<<"$resp")" != "true" ]]; then
    echo "slack $1 failed: $(jq -r .error <<<"$resp")" >&2
    return 1
  fi
  printf '%s' "$resp"
}

user_id() {
  curl -fsS -G "https://slack.com/api/users.lookupByEmail" \
    -H "Authorization: Bearer $SLACK_BOT_TOKEN" --data-urlencode "email=$1" \
    | jq -r 'if .ok then .user.id else empty end'
}

STARTED=$(date -u +%FT%TZ)
slug=$(tr '[:upper:]' '[:lower:]' <<<"$TITLE" | sed -E 's/[^a-z0-9]+/-/g; s/^-+|-+$//g' | cut -c1-40)
NAME="inc-$(date -u +%Y%m%d)-sev${SEV}-${slug}"
NAME="${NAME%-}"

created=$(slack conversations.create "$(jq -cn --arg n "$NAME" '{name: $n, is_private: false}')")
CH=$(jq -r .channel.id <<<"$created")
echo "created #$NAME ($CH)"

topic="SEV$SEV | $TITLE | IC: ${IC:-unassigned}${BRIDGE:+ | bridge: $BRIDGE}"
slack conversations.setTopic "$(jq -cn --arg c "$CH" --arg t "$topic" '{channel: $c, topic: $t}')" >/dev/null

text=$(cat <<MSG
:rotating_light: *SEV$SEV declared: $TITLE*
*Started:* $STARTED
*Incident commander:* ${IC:-_unassigned — first responder is IC until handed over_}
*Bridge:* ${BRIDGE:-_none_}

*Roles* — IC: ${IC:-?} · Ops lead: ? · Comms lead: ?
*Status:* Investigating
*Next update:* in $([[ "$SEV" == 1 ]] && echo 30 || echo 60) minutes

Rules: one person changes production at a time and announces it first · post commands and findings here · side discussions in threads.
MSG
)
msg=$(slack chat.postMessage "$(jq -cn --arg c "$CH" --arg t "$text" '{channel: $c, text: $t, unfurl_links: false}')")
ts=$(jq -r .ts <<<"$msg")
slack pins.add "$(jq -cn --arg c "$CH" --arg ts "$ts" '{channel: $c, timestamp: $ts}')" >/dev/null

ids=()
IFS=',' read -r -a emails <<<"${IC:+$IC,}$INVITE"
for e in "${emails[@]}"; do
  [[ -n "$e" ]] || continue
  id=$(user_id "$e" || true)
  if [[ -n "$id" ]]; then ids+=("$id"); else echo "warning: no Slack user for $e" >&2; fi
done
if [[ ${#ids[@]} -gt 0 ]]; then
  users=$(IFS=,; echo "${ids[*]}")
  slack conversations.invite "$(jq -cn --arg c "$CH" --arg u "$users" '{channel: $c, users: $u}')" >/dev/null \
    || echo "warning: invite failed (already members?)" >&2
fi

if [[ -n "$ANNOUNCE" ]]; then
  slack chat.postMessage "$(jq -cn --arg c "$ANNOUNCE" --arg t ":rotating_light: SEV$SEV *$TITLE* — join <#$CH>" '{channel: $c, text: $t}')" >/dev/null
fi

echo "kickoff posted and pinned. Next: status page 'Investigating', assign Ops and Comms leads."
