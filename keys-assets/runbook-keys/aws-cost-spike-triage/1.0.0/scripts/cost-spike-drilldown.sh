#!/usr/bin/env bash
# Drill into one service's cost spike: usage types, regions, linked accounts, and (if resource-level
# data is enabled in Cost Explorer settings) the top resources on the spike day.
# Usage: cost-spike-drilldown.sh --service "EC2 - Other" [--day YYYY-MM-DD] [--baseline-days 7]
set -euo pipefail

SERVICE=""; DAY=$(date -u -d yesterday +%F); BASE=7
while [[ $# -gt 0 ]]; do
  case "$1" in
    --service) SERVICE="$2"; shift 2 ;;
    --day) DAY="$2"; shift 2 ;;
    --baseline-days) BASE="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$SERVICE" ]] || { echo "need --service (exact Cost Explorer name, e.g. \"Amazon Relational Database Service\")" >&2; exit 2; }

HERE="$(cd "$(dirname "$0")" && pwd)"

for g in USAGE_TYPE REGION LINKED_ACCOUNT; do
  echo "================ by $g"
  "$HERE/cost-delta.sh" --group-by "$g" --service "$SERVICE" --day "$DAY" --baseline-days "$BASE" --top 10
  echo
done

echo "================ top resources on $DAY (resource-level data, last 14 days only)"
filter=$(jq -cn --arg s "$SERVICE" '{Dimensions: {Key: "SERVICE", Values: [$s]}}')
if out=$(aws ce get-cost-and-usage-with-resources \
      --time-period "Start=$DAY,End=$(date -u -d "$DAY +1 day" +%F)" \
      --granularity DAILY --metrics UnblendedCost --filter "$filter" \
      --group-by Type=DIMENSION,Key=RESOURCE_ID --output json 2>&1); then
  jq -r '.ResultsByTime[].Groups[] | [(.Metrics.UnblendedCost.Amount | tonumber), .Keys[0]] | @tsv' <<<"$out" \
    | sort -t$'\t' -k1,1 -gr | head -15 \
    | awk -F'\t' '{printf "%12.2f  %s\n", $1, $2}'
else
  echo "not available: $out" | head -3
  echo "Enable it under Cost Explorer > Preferences > 'Hourly and resource level data', or use queries/cur-athena.sql."
fi

cat <<'HINT'

Next: look up the top resource's tags to find the owner, e.g.
  aws resourcegroupstaggingapi get-resources --resource-arn-list <arn> --query 'ResourceTagMappingList[].Tags'
  aws ec2 describe-instances --instance-ids i-... --query 'Reservations[].Instances[].Tags'
HINT
