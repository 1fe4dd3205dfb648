#!/usr/bin/env bash
# Compare one day's cost with the average of the previous N days, grouped by a dimension or tag.
# Usage: cost-delta.sh [--group-by SERVICE|LINKED_ACCOUNT|REGION|USAGE_TYPE|INSTANCE_TYPE|TAG:key]
#                      [--service "EC2 - Other"] [--day YYYY-MM-DD (default: yesterday UTC)]
#                      [--baseline-days 7] [--metric UnblendedCost|AmortizedCost|NetUnblendedCost] [--top 15]
# Needs ce:GetCostAndUsage (call from the payer account to see all linked accounts).
set -euo pipefail

GROUP=SERVICE; SERVICE=""; DAY=$(date -u -d yesterday +%F); BASE=7; METRIC=UnblendedCost; TOP=15
while [[ $# -gt 0 ]]; do
  case "$1" in
    --group-by) GROUP="$2"; shift 2 ;;
    --service) SERVICE="$2"; shift 2 ;;
    --day) DAY="$2"; shift 2 ;;
    --baseline-days) BASE="$2"; shift 2 ;;
    --metric) METRIC="$2"; shift 2 ;;
    --top) TOP="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

START=$(date -u -d "$DAY -$BASE days" +%F)
END=$(date -u -d "$DAY +1 day" +%F)          # End is exclusive

if [[ "$GROUP" == TAG:* ]]; then group_arg="Type=TAG,Key=${GROUP#TAG:}"; else group_arg="Type=DIMENSION,Key=$GROUP"; fi
args=(--time-period "Start=$START,End=$END" --granularity DAILY --metrics "$METRIC" --group-by "$group_arg" --output json)
if [[ -n "$SERVICE" ]]; then
  args+=(--filter "$(jq -cn --arg s "$SERVICE" '{Dimensions: {Key: "SERVICE", Values: [$s], MatchOptions: ["EQUALS"]}}')")
fi

# Page through results and flatten to: date <TAB> key <TAB> amount
rows=$(mktemp); trap 'rm -f "$rows"' EXIT
token=""
while :; do
  if [[ -n "$token" ]]; then page=$(aws ce get-cost-and-usage "${args[@]}" --next-page-token "$token")
  else page=$(aws ce get-cost-and-usage "${args[@]}"); fi
  jq -r --arg m "$METRIC" '.ResultsByTime[] | .TimePeriod.Start as $d
      | .Groups[] | [$d, (.Keys[0] | sub("^[^$]*\\$"; "") | if . == "" then "(untagged)" else . end), .Metrics[$m].Amount] | @tsv' \
      <<<"$page" >>"$rows"
  token=$(jq -r '.NextPageToken // empty' <<<"$page")
  [[ -n "$token" ]] || break
done

echo "metric=$METRIC group=$GROUP ${SERVICE:+service=\"$SERVICE\" }day=$DAY baseline=$START..$(date -u -d "$DAY -1 day" +%F)"
echo
printf '%12s %12s %12s %8s  %s\n' DELTA BASELINE/DAY DAY CHANGE KEY
awk -F'\t' -v day="$DAY" -v base="$BASE" '
  { if ($1 == day) spike[$2] += $3; else baseline[$2] += $3; keys[$2] = 1 }
  END {
    for (k in keys) {
      b = baseline[k] / base; s = spike[k]; d = s - b
      pct = (b > 0.01) ? sprintf("%+.0f%%", 100 * d / b) : "new"
      printf "%.2f\t%.2f\t%.2f\t%s\t%s\n", d, b, s, pct, k
    }
  }' "$rows" \
  | sort -t$'\t' -k1,1 -gr | head -n "$TOP" \
  | awk -F'\t' '{printf "%12s %12s %12s %8s  %s\n", $1, $2, $3, $4, $5}' || true

awk -F'\t' -v day="$DAY" -v base="$BASE" '
  { if ($1 == day) s += $3; else b += $3 }
  END {
    b = b / base; d = s - b
    printf "\nTOTAL  baseline/day=%.2f  day=%.2f  delta=%+.2f  (30-day run-rate delta ~%+.0f)\n", b, s, d, d * 30
  }' "$rows"
