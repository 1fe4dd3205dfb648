#!/usr/bin/env bash
# Show a Helm release history and roll back to the last good (or a given) revision.
# Usage:
#   helm-rollback.sh -n NS -r RELEASE                         # history + values diff hint
#   helm-rollback.sh -n NS -r RELEASE --rollback [--to N] [--timeout 10m] [--yes]
set -euo pipefail

NS=""; REL=""; DO=0; TO=""; TIMEOUT=10m; YES=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) NS="$2"; shift 2 ;;
    -r) REL="$2"; shift 2 ;;
    --rollback) DO=1; shift ;;
    --to) TO="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --yes) YES=1; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$NS" && -n "$REL" ]] || { echo "need -n NAMESPACE -r RELEASE" >&2; exit 2; }

hist=$(helm history "$REL" -n "$NS" --max 15 -o json)
echo "== history of $NS/$REL"
jq -r '.[] | "\(.revision)\t\(.updated[0:19])\t\(.status)\t\(.chart)\t\(.app_version)\t\(.description)"' <<<"$hist" \
  | awk -F'\t' 'BEGIN {printf "%-4s %-20s %-16s %-28s %-12s %s\n", "REV", "UPDATED", "STATUS", "CHART", "APP", "DESCRIPTION"}
               {printf "%-4s %-20s %-16s %-28s %-12s %s\n", $1, $2, $3, $4, $5, $6}'

current=$(jq -r '[.[] | select(.status == "deployed")] | last | .revision // empty' <<<"$hist")
pending=$(jq -r '[.[] | select(.status | startswith("pending"))] | last | .revision // empty' <<<"$hist")
if [[ -n "$pending" ]]; then
  echo
  echo "WARNING: revision $pending is in a pending state (interrupted upgrade). helm rollback clears it."
fi

if [[ -z "$TO" ]]; then
  # last revision before the current one that reached 'deployed' at some point (now 'superseded')
  TO=$(jq -r --arg cur "${current:-999999}" '[.[] | select(.status == "superseded" and (.revision < ($cur | tonumber)))] | last | .revision // empty' <<<"$hist")
fi

if [[ "$DO" -ne 1 ]]; then
  if [[ -n "$TO" ]]; then
    echo
    echo "candidate rollback target: revision $TO. Compare values first:"
    echo "  diff <(helm get values $REL -n $NS --revision $TO -o yaml) <(helm get values $REL -n $NS -o yaml)"
  fi
  exit 0
fi

[[ -n "$TO" ]] || { echo "no superseded revision to roll back to; pass --to N" >&2; exit 1; }
echo
echo "values that will change (target $TO vs current):"
diff <(helm get values "$REL" -n "$NS" --revision "$TO" -o yaml) <(helm get values "$REL" -n "$NS" -o yaml) \
  | sed 's/^/  /' || true

if [[ "$YES" -ne 1 ]]; then
  read -r -p "helm rollback $REL to revision $TO in $NS? [y/N] " a
  [[ "$a" == "y" || "$a" == "Y" ]] || { echo "aborted"; exit 1; }
fi

helm rollback "$REL" "$TO" -n "$NS" --wait --timeout "$TIMEOUT" --cleanup-on-fail
helm status "$REL" -n "$NS" | head -8
echo "done. Now: verify-deploy-health.sh"
